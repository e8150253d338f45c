// Sends apps' outputs to Kafka through one shard's producer, with a token per record so the
// shard's commit tracker knows which input offsets are safe to commit.
import Kafka
import Logging

/// The Kafka side of an `OutputSink`: results, trigger events and late records.
final class KafkaOutputSink: OutputSink {
    private let producer: any KafkaProducerClient
    private var tracker = CommitTracker()
    /// Processing time of the batch being processed (for emit latency).
    var now: Int64 = 0
    /// Emit latencies (milliseconds) since the last `takeLatencies`, bounded.
    private var latencies: [Int64] = []
    /// Errors the producer reported outside deliveries since the last `takeClientErrors`.
    private var clientErrors = 0
    /// Why the producer can no longer be used (fenced, or another fatal error): no abort or
    /// retry helps, the process must stop.
    private(set) var fatalError: String?
    /// Whether a delivery was acknowledged since the last `takeAcknowledgedAny`.
    private var acknowledgedAny = false
    /// Changelog bytes produced since the last `takeChangelogBytes`.
    private var changelogBytes = 0
    /// Output topics' partition counts; the last one asked for, apart (results go in runs).
    private var partitionCounts: [String: Int32] = [:]
    private var lastTopic = ""
    private var lastPartitionCount: Int32 = 1
    private let logger: Logger

    init(producer: any KafkaProducerClient, logger: Logger) {
        self.producer = producer
        self.logger = logger
        latencies.reserveCapacity(4096)
    }

    func send(
        topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, device: UnsafeRawBufferPointer,
        windowEnd: Int64?
    ) {
        let token = tracker.issue()
        do {
            let partition = KafkaPartitioner.murmur2(device, partitions: try partitionCount(of: topic))
            try producer.send(topic: topic, partition: partition, key: key, value: value, token: token)
        } catch {
            refused(token, topic: topic, error)
        }
        if let windowEnd, latencies.count < 4096 { latencies.append(now - windowEnd) }
    }

    /// The partitions of an output topic, asked of the cluster once per topic.
    private func partitionCount(of topic: String) throws(KafkaError) -> Int32 {
        if topic == lastTopic { return lastPartitionCount }
        let count: Int32
        if let known = partitionCounts[topic] {
            count = known
        } else {
            guard let asked = try producer.partitionCount(of: topic, timeout: .seconds(30)) else {
                throw KafkaError(code: KafkaError.unknownTopic, message: "output topic \(topic) does not exist")
            }
            partitionCounts[topic] = asked
            count = asked
        }
        lastTopic = topic
        lastPartitionCount = count
        return count
    }

    func sendLate(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason) {
        sendLate(topic: topic, key: key, value: value, reason: reason, inputHeaders: [])
    }

    /// A late record that keeps its input record's headers, before the reason's.
    func sendLate(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason, inputHeaders: [KafkaOutgoingHeader]
    ) {
        let token = tracker.issue()
        var headers = inputHeaders + [KafkaOutgoingHeader(name: "tidemark-reason", text: reason.reason)]
        if let error = reason.error { headers.append(KafkaOutgoingHeader(name: "tidemark-error", text: error)) }
        do {
            try producer.send(topic: topic, key: key, value: value, headers: headers, token: token)
        } catch {
            refused(token, topic: topic, error)
        }
    }

    /// A record written again to a repartition topic, keyed by its device, placed as a Java
    /// producer places that key, with its input record's timestamp; returns its token.
    @discardableResult
    func sendRepartitioned(topic: String, device: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, timestamp: Int64?) -> UInt64 {
        let token = tracker.issue()
        do {
            let partition = KafkaPartitioner.murmur2(device, partitions: try partitionCount(of: topic))
            try producer.send(topic: topic, partition: partition, key: device, value: value, headers: [], timestamp: timestamp, token: token)
        } catch {
            refused(token, topic: topic, error)
        }
        return token
    }

    /// The cluster the input offsets belong to, once known: named on each partition record.
    var cluster: String?

    /// Produces a checkpoint's device records, or its partition records (each a token, like
    /// any output).
    func sendChangelog(_ batch: ChangelogBatch, partitionRecords: Bool) {
        batch.bytes.withUnsafeBytes { bytes in
            for record in batch.records where record.isPartition == partitionRecords {
                let token = tracker.issue()
                let key = UnsafeRawBufferPointer(rebasing: bytes[record.key])
                do throws(KafkaError) {
                    if let value = record.value {
                        var headers: [KafkaOutgoingHeader] = []
                        if record.isPartition, let cluster { headers.append(KafkaOutgoingHeader(name: ChangelogValue.clusterHeader, text: cluster)) }
                        if let origins = record.origins { headers.append(KafkaOutgoingHeader(name: ChangelogValue.originsHeader, text: origins)) }
                        try producer.send(
                            topic: record.topic, partition: record.partition, key: key,
                            value: UnsafeRawBufferPointer(rebasing: bytes[value]), headers: headers, token: token)
                    } else {
                        // A tombstone says where it stands in a header: its value must stay empty.
                        try producer.send(
                            topic: record.topic, partition: record.partition, key: key, value: nil,
                            headers: [KafkaOutgoingHeader(name: ChangelogValue.positionHeader, text: String(record.position))],
                            token: token)
                    }
                    changelogBytes += key.count + (record.value?.count ?? 0)
                } catch {
                    refused(token, topic: record.topic, error)
                }
            }
        }
    }

    /// Serves the producer: settles the delivery reports that arrived and takes note of the
    /// client's other errors (a fatal one fails the sink like a failed delivery).
    func serveDeliveries(timeout: Duration = .zero) {
        producer.poll(timeout: timeout) { report in
            if let error = report.error {
                // The first failure stops the shard; the rest of its batch says nothing new.
                let topic = report.failedTopic.map { " to \($0)/\(report.partition)" } ?? ""
                if tracker.failure == nil { logger.error("delivery failed", metadata: ["error": "\(error)", "topic": "\(report.failedTopic ?? "")"]) }
                tracker.settle(report.token, error: "delivery\(topic) failed: \(error)")
                if error.isFencing, fatalError == nil { fatalError = "producer fenced: \(error)" }
            } else {
                acknowledgedAny = true
                tracker.settle(report.token, error: nil)
            }
        }
        for error in producer.takeErrors() {
            clientErrors += 1
            if error.isFatal || error.isFencing {
                logger.error("producer failed", metadata: ["error": "\(error)"])
                tracker.fail("producer failed: \(error)")
                if fatalError == nil { fatalError = "producer failed: \(error)" }
            } else if clientErrors <= 10 || clientErrors % 1000 == 0 {
                // librdkafka retries these by itself; an outage repeats them many times a second.
                logger.warning("kafka producer", metadata: ["error": "\(error)", "count": "\(clientErrors)"])
            }
        }
    }

    /// Waits until every record sent so far is answered (or `timeout` passes).
    func flush(timeout: Duration) {
        do {
            try producer.flush(timeout: timeout)
        } catch {
            logger.warning("producer flush incomplete", metadata: ["error": "\(error)", "in-flight": "\(tracker.inFlight)"])
        }
        serveDeliveries()
    }

    func takeLatencies() -> [Int64] {
        defer { latencies.removeAll(keepingCapacity: true) }
        return latencies
    }

    /// Whether the broker acknowledged some record since the last call.
    func takeAcknowledgedAny() -> Bool {
        defer { acknowledgedAny = false }
        return acknowledgedAny
    }

    func takeChangelogBytes() -> Int {
        defer { changelogBytes = 0 }
        return changelogBytes
    }

    func takeClientErrors() -> Int {
        defer { clientErrors = 0 }
        return clientErrors
    }

    // MARK: Transactions (exactly once)

    /// Registers the producer's transactional id (fencing an earlier producer with it) and
    /// opens the first transaction.
    func startTransactions(timeout: Duration) throws(KafkaError) {
        try producer.initTransactions(timeout: timeout)
        try producer.beginTransaction()
    }

    /// Commits the open transaction with `offsets` (input positions, each the next offset to
    /// read) and opens the next.
    func commitTransaction(offsets: [KafkaTopicPartition], group: KafkaConsumerGroupMetadata, timeout: Duration) throws(KafkaError) {
        if !offsets.isEmpty { try producer.sendOffsetsToTransaction(offsets, group: group, timeout: timeout) }
        try producer.commitTransaction(timeout: timeout)
        serveDeliveries()
        try producer.beginTransaction()
    }

    /// Aborts the open transaction, voids what was sent in it (delivered or not: commit
    /// bookkeeping starts afresh), and opens the next; `reopen` false leaves none open.
    func abortTransaction(timeout: Duration, reopen: Bool = true) throws(KafkaError) {
        try producer.abortTransaction(timeout: timeout)
        serveDeliveries()
        tracker = CommitTracker()
        if reopen { try producer.beginTransaction() }
    }

    /// Input positions processed, for the tracker (see ``CommitTracker/processed(_:nextOffset:)``).
    func processed(_ partition: TopicPartition, nextOffset: Int64) {
        tracker.processed(partition, nextOffset: nextOffset)
    }

    func takeCommittable() -> [(partition: TopicPartition, offset: Int64)] { tracker.takeCommittable() }

    /// Why a delivery failed for good, if one did.
    var deliveryFailure: String? { tracker.failure?.reason }

    /// Records sent and not yet answered.
    var inFlight: Int { tracker.inFlight }

    /// The token of the last record sent: once it is acknowledged, so is all before it.
    var lastSent: UInt64 { tracker.issued }

    /// Whether every record up to `token` is acknowledged.
    func isAcknowledged(through token: UInt64) -> Bool { tracker.acknowledgedThrough >= token }

    @discardableResult
    func forget(_ partition: TopicPartition) -> Int64? { tracker.forget(partition) }

    private func refused(_ token: UInt64, topic: String, _ error: KafkaError) {
        if tracker.failure == nil { logger.error("cannot produce", metadata: ["topic": "\(topic)", "error": "\(error)"]) }
        tracker.settle(token, error: "cannot produce to \(topic): \(error)")
    }
}
