// The producer: idempotent by default, delivery reports carrying a caller token,
// flush, headers, keys, explicit partitions, and the transactional API.
import CRdKafka

/// A header to send with a message.
package struct KafkaOutgoingHeader: Sendable, Hashable {
    /// The header name.
    package var name: String
    /// The header value, or nil for a null value.
    package var value: [UInt8]?

    /// Creates a header with a byte value.
    package init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// Creates a header with a UTF-8 text value.
    package init(name: String, text: String) {
        self.name = name
        self.value = Array(text.utf8)
    }
}

/// The outcome of one produced message, reported by ``KafkaProducer/poll(timeout:_:)``.
package struct KafkaDeliveryReport: Sendable {
    /// The token the caller passed to `send`.
    package var token: UInt64
    /// The partition the message was written to (or meant for).
    package var partition: Int32
    /// The offset of the message, if it was written.
    package var offset: Int64
    /// Nil on success; otherwise why the message was not written.
    package var error: KafkaError?
    /// The topic of a message that was not written (nil on success: naming it costs a string).
    package var failedTopic: String? = nil

    package init(token: UInt64, partition: Int32, offset: Int64, error: KafkaError? = nil, failedTopic: String? = nil) {
        self.token = token
        self.partition = partition
        self.offset = offset
        self.error = error
        self.failedTopic = failedTopic
    }
}

/// A Kafka producer.
///
/// Defaults (overridable): `enable.idempotence=true` (hence `acks=all`,
/// ordered retries without duplicates). Setting `transactional.id` enables
/// the transactional API.
///
/// Delivery reports are collected while librdkafka is served (``poll(timeout:_:)``,
/// ``flush(timeout:)``, and `send` when the queue is full) and handed to the
/// caller by ``poll(timeout:_:)``. Not thread-safe: use from one thread at a time.
package final class KafkaProducer {
    let handle: OpaquePointer
    private let context: ProducerContext
    private var topicHandles: [String: OpaquePointer] = [:]

    /// Creates a producer; `config` needs `bootstrap.servers`.
    package init(config: KafkaConfig) throws(KafkaError) {
        let conf = try config.makeConf(defaults: ["enable.idempotence": "true"])
        let context = ProducerContext()
        // The context outlives the rd_kafka_t: both are owned by the producer,
        // which destroys the rd_kafka_t first (see deinit).
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        rd_kafka_conf_set_error_cb(conf, producerErrorCallback)
        self.handle = try makeClient(RD_KAFKA_PRODUCER, conf: conf)
        self.context = context
    }

    deinit {
        for rkt in topicHandles.values { rd_kafka_topic_destroy(rkt) }
        rd_kafka_destroy(handle)
    }

    private func topicHandle(_ topic: String) throws(KafkaError) -> OpaquePointer {
        if let rkt = topicHandles[topic] { return rkt }
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "cannot create topic handle for '\(topic)'")
        }
        topicHandles[topic] = rkt
        return rkt
    }

    /// Queues one message (key and value are copied).
    ///
    /// - Parameters:
    ///   - partition: nil lets the configured partitioner choose (by key).
    ///   - key, value: nil for no key / a tombstone.
    ///   - timestamp: epoch milliseconds, nil for now.
    ///   - token: returned in this message's ``KafkaDeliveryReport``.
    /// When librdkafka's queue is full this serves delivery reports (collected
    /// for the next ``poll(timeout:_:)``) until there is room.
    package func send(
        topic: String, partition: Int32? = nil,
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader] = [], timestamp: Int64? = nil, token: UInt64
    ) throws(KafkaError) {
        let rkt = try topicHandle(topic)
        while true {
            var list: OpaquePointer?
            if !headers.isEmpty {
                list = rd_kafka_headers_new(headers.count)
                for header in headers {
                    var name = header.name
                    name.withUTF8 { name in
                        if let value = header.value {
                            value.withUnsafeBytes { value in
                                _ = rd_kafka_header_add(list, name.baseAddress, name.count, value.baseAddress, value.count)
                            }
                        } else {
                            _ = rd_kafka_header_add(list, name.baseAddress, name.count, nil, 0)
                        }
                    }
                }
            }
            let error = tdk_produce(
                handle, rkt, partition ?? tdk_partition_unassigned(),
                key?.baseAddress, key?.count ?? 0, key == nil ? 0 : 1,
                value?.baseAddress, value?.count ?? 0, value == nil ? 0 : 1,
                list, timestamp ?? 0, UnsafeMutableRawPointer(bitPattern: UInt(token))
            )
            guard let error else { return }
            if let list { rd_kafka_headers_destroy(list) }
            let failure = KafkaError(consuming: error)
            guard failure.code == KafkaError.queueFull else { throw failure }
            rd_kafka_poll(handle, 100)
        }
    }

    /// Queues one message with byte key and value (see the raw-buffer overload).
    package func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaOutgoingHeader] = [], timestamp: Int64? = nil, token: UInt64
    ) throws(KafkaError) {
        try withOptionalBytes(key) { (key) throws(KafkaError) in
            try withOptionalBytes(value) { (value) throws(KafkaError) in
                try send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
            }
        }
    }

    /// Queues one message with UTF-8 text key and value (see the raw-buffer overload).
    package func send(
        topic: String, partition: Int32? = nil, key: String?, value: String?,
        headers: [KafkaOutgoingHeader] = [], timestamp: Int64? = nil, token: UInt64
    ) throws(KafkaError) {
        try withOptionalUTF8(key) { (key) throws(KafkaError) in
            try withOptionalUTF8(value) { (value) throws(KafkaError) in
                try send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
            }
        }
    }

    /// Serves librdkafka for up to `timeout` (returning early once something
    /// happened), then hands every collected delivery report to `onDelivery`.
    /// - Returns: the number of reports handed over.
    @discardableResult
    package func poll(
        timeout: Duration = .zero, _ onDelivery: (KafkaDeliveryReport) throws -> Void
    ) rethrows -> Int {
        rd_kafka_poll(handle, context.reports.isEmpty ? milliseconds(timeout) : 0)
        // Swap buffers so a handler that sends (and so may serve librdkafka) cannot lose reports.
        var reports = context.reports
        context.reports = context.spare
        context.spare = []
        defer {
            reports.removeAll(keepingCapacity: true)
            context.spare = reports
        }
        let count = reports.count
        for report in reports { try onDelivery(report) }
        return count
    }

    /// Waits until every queued message was delivered or failed (reports are
    /// collected for ``poll(timeout:_:)``). Throws `_TIMED_OUT` if some are still in flight.
    package func flush(timeout: Duration) throws(KafkaError) {
        try check(rd_kafka_flush(handle, milliseconds(timeout)), "flush (\(rd_kafka_outq_len(handle)) messages in flight)")
    }

    /// The number of partitions of `topic`, from cluster metadata (waiting for a topic the
    /// cluster is still creating); nil if it does not exist within `timeout`.
    package func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int32? {
        try Kafka.partitionCount(handle: handle, rkt: try topicHandle(topic), topic: topic, timeout: timeout) {
            rd_kafka_poll(handle, 100)
        }
    }

    /// Errors librdkafka reported outside delivery reports (e.g. all brokers
    /// down), collected while serving; returns and clears them.
    package func takeErrors() -> [KafkaError] {
        defer { context.errors.removeAll() }
        return context.errors
    }

    // MARK: Transactions

    /// Registers the `transactional.id` with the cluster, fencing older producers.
    package func initTransactions(timeout: Duration) throws(KafkaError) {
        try check(rd_kafka_init_transactions(handle, milliseconds(timeout)))
    }

    /// Starts a transaction.
    package func beginTransaction() throws(KafkaError) {
        try check(rd_kafka_begin_transaction(handle))
    }

    /// Adds a consumer's offsets (each the next offset to read) to the current transaction.
    package func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartition], group: KafkaConsumerGroupMetadata, timeout: Duration
    ) throws(KafkaError) {
        let list = TopicPartitionList(offsets)
        try check(rd_kafka_send_offsets_to_transaction(handle, list.pointer, group.pointer, milliseconds(timeout)))
    }

    /// Flushes and commits the current transaction.
    package func commitTransaction(timeout: Duration) throws(KafkaError) {
        try check(rd_kafka_commit_transaction(handle, milliseconds(timeout)))
    }

    /// Aborts the current transaction; its messages are never visible to read_committed consumers.
    package func abortTransaction(timeout: Duration) throws(KafkaError) {
        try check(rd_kafka_abort_transaction(handle, milliseconds(timeout)))
    }
}

/// The state librdkafka's producer callbacks reach through the conf opaque.
///
/// Lifetime: owned by its ``KafkaProducer``, which destroys the `rd_kafka_t`
/// (the only caller of the callbacks, which run inside poll/flush/destroy on the
/// caller's thread) before releasing it.
final class ProducerContext {
    var reports: [KafkaDeliveryReport] = []
    var spare: [KafkaDeliveryReport] = []
    var errors: [KafkaError] = []

    init() {
        reports.reserveCapacity(1024)
        spare.reserveCapacity(1024)
    }
}

private let deliveryReportCallback: @convention(c) (
    OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?
) -> Void = { _, message, opaque in
    guard let opaque, let message else { return }
    let context = Unmanaged<ProducerContext>.fromOpaque(opaque).takeUnretainedValue()
    let m = message.pointee
    let token = UInt64(UInt(bitPattern: m._private))
    let error = m.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(m.err)
    let failedTopic = error == nil ? nil : m.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) }
    context.reports.append(KafkaDeliveryReport(token: token, partition: m.partition, offset: m.offset, error: error, failedTopic: failedTopic))
}

private let producerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _, err, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ProducerContext>.fromOpaque(opaque).takeUnretainedValue()
    if context.errors.count < 1000 {
        context.errors.append(KafkaError(code: err, message: reason.map { String(cString: $0) }))
    }
}

private func withOptionalBytes<R>(
    _ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(KafkaError) -> R
) throws(KafkaError) -> R {
    guard let bytes else { return try body(nil) }
    // Array.withUnsafeBytes is untyped rethrows: carry the typed error out in a Result.
    return try bytes.withUnsafeBytes { buffer in Result { () throws(KafkaError) in try body(buffer) } }.get()
}

private func withOptionalUTF8<R>(
    _ text: String?, _ body: (UnsafeRawBufferPointer?) throws(KafkaError) -> R
) throws(KafkaError) -> R {
    guard var text else { return try body(nil) }
    return try text.withUTF8 { buffer in Result { () throws(KafkaError) in try body(UnsafeRawBufferPointer(buffer)) } }.get()
}
