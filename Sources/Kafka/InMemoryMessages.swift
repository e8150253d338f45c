// Messages made in memory, read through the same borrowed views as a consumer poll's: the
// runtime simulation's in-memory cluster hands the record path `KafkaMessageBatch`es built
// here. Each is a `rd_kafka_message_t` filled by us (topic handle, partition, offset, key,
// value); the timestamp and headers, which librdkafka keeps outside that struct, hang off its
// `_private` pointer, where a consumed message's point to librdkafka's own bookkeeping.
import CRdKafka

/// The messages of one in-memory poll: valid until the next ``reset()``.
///
/// Not thread-safe, like a consumer.
package final class InMemoryMessages {
    private let topics = TopicNameCache(inMemory: true)
    /// A handle per topic name: any unique address does, as nothing passes it to librdkafka.
    private var handles: [String: UnsafeMutableRawPointer] = [:]
    private var messages: [UnsafeMutablePointer<rd_kafka_message_t>] = []
    private var storage: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>?
    private var capacity = 0

    /// What a message carries besides its struct's fields, with the bytes its views point into.
    private final class Extras {
        let timestamp: Int64?
        let key: [UInt8]?
        let value: [UInt8]?
        let headerBytes: [(name: [UInt8], value: [UInt8]?)]
        var headers: [KafkaHeader] = []

        init(timestamp: Int64?, key: [UInt8]?, value: [UInt8]?, headers: [KafkaOutgoingHeader]) {
            self.timestamp = timestamp
            self.key = key
            self.value = value
            headerBytes = headers.map { (Array($0.name.utf8), $0.value) }
        }
    }

    package init() {}

    deinit {
        reset()
        storage?.deallocate()
        for handle in handles.values { handle.deallocate() }
    }

    /// Releases the messages of the last batch.
    package func reset() {
        for message in messages {
            Unmanaged<Extras>.fromOpaque(message.pointee._private!).release()
            message.deallocate()
        }
        messages.removeAll(keepingCapacity: true)
    }

    /// Adds a message to the next batch.
    package func append(
        topic: String, partition: Int32, offset: Int64, timestamp: Int64?, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaOutgoingHeader] = []
    ) {
        let handle: UnsafeMutableRawPointer
        if let known = handles[topic] {
            handle = known
        } else {
            handle = .allocate(byteCount: 1, alignment: 1)
            handles[topic] = handle
            topics.register(OpaquePointer(handle), name: topic)
        }
        let extras = Extras(timestamp: timestamp, key: key, value: value, headers: headers)
        // The arrays are immutable from here: their buffers stay where the views point.
        extras.headers = extras.headerBytes.map { header in
            KafkaHeader(
                name: header.name.withUnsafeBytes { KafkaBytes(base: $0.baseAddress, count: $0.count) },
                value: header.value.map { value in value.withUnsafeBytes { KafkaBytes(base: $0.baseAddress ?? UnsafeRawPointer(handle), count: $0.count) } })
        }
        let message = UnsafeMutablePointer<rd_kafka_message_t>.allocate(capacity: 1)
        var raw = rd_kafka_message_t()
        raw.err = RD_KAFKA_RESP_ERR_NO_ERROR
        raw.rkt = OpaquePointer(handle)
        raw.partition = partition
        raw.offset = offset
        raw.payload = extras.value.map { value in value.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress ?? UnsafeRawPointer(handle)) } }
        raw.len = value?.count ?? 0
        raw.key = extras.key.map { key in key.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress ?? UnsafeRawPointer(handle)) } }
        raw.key_len = key?.count ?? 0
        raw._private = Unmanaged.passRetained(extras).toOpaque()
        message.initialize(to: raw)
        messages.append(message)
    }

    /// The messages appended since the last ``reset()``, in order.
    package var batch: KafkaMessageBatch {
        if messages.count > capacity {
            storage?.deallocate()
            capacity = max(messages.count, 2 * capacity)
            storage = .allocate(capacity: capacity)
        }
        for (index, message) in messages.enumerated() { storage![index] = message }
        return KafkaMessageBatch(storage: storage, count: messages.count, topics: topics)
    }

    static func timestamp(of raw: UnsafeMutablePointer<rd_kafka_message_t>) -> Int64? {
        Unmanaged<Extras>.fromOpaque(raw.pointee._private!).takeUnretainedValue().timestamp
    }

    static func headers(of raw: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        Unmanaged<Extras>.fromOpaque(raw.pointee._private!).takeUnretainedValue().headers
    }
}
