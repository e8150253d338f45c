// Borrowed, allocation-free views over the messages of one consumer poll:
// bytes, headers and topic names point into librdkafka memory.
//
// Public, with the inlinable members the record path reads (`KafkaMessageBatch`'s subscript,
// a message's partition, offset, timestamp, key and value, `KafkaBytes`' byte access), where
// the rest of the module is `package`: Swift 6.3 neither inlines an `@inlinable package`
// member into another module nor specializes an `@inlinable package` generic there, so each
// record paid calls to every accessor and unspecialized `withOptional`/`withUnsafeBytes`
// (about 500 instructions a record under callgrind; see WindowEngine for the same choice).
import CRdKafka

/// Bytes owned by librdkafka: a key, value or header value of a polled message.
///
/// Valid only until the next ``KafkaConsumer/poll(timeout:maxMessages:)`` or
/// ``KafkaConsumer/close()`` of the consumer that returned it; copy what must
/// outlive that (``array``, ``string``).
public struct KafkaBytes: RandomAccessCollection {
    @usableFromInline let base: UnsafeRawPointer?
    /// The number of bytes.
    public let count: Int

    @inlinable init(base: UnsafeRawPointer?, count: Int) {
        self.base = base
        self.count = count
    }

    /// Always 0.
    @inlinable public var startIndex: Int { 0 }
    /// The number of bytes.
    @inlinable public var endIndex: Int { count }

    /// The byte at `position`.
    @inlinable public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "KafkaBytes index out of range")
        return base.unsafelyUnwrapped.load(fromByteOffset: position, as: UInt8.self)
    }

    /// Calls `body` with the raw bytes; the buffer must not escape.
    @inlinable public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: count == 0 ? nil : base, count: count))
    }

    /// Calls `body` with the raw bytes of `bytes`, or nil when the message has none (no key,
    /// a tombstone); the buffer must not escape.
    @inlinable public static func withOptional<Result, Failure: Error>(
        _ bytes: KafkaBytes?, _ body: (UnsafeRawBufferPointer?) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { (buffer) throws(Failure) in try body(buffer) }
    }

    /// An owned copy of the bytes.
    package var array: [UInt8] { withUnsafeBytes { Array($0) } }

    /// An owned copy of the bytes decoded as UTF-8 (invalid sequences repaired).
    package var string: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    /// True when the bytes equal the UTF-8 of `text`, without allocating.
    package func elementsEqual(utf8 text: String) -> Bool {
        var text = text
        return text.withUTF8 { other in
            withUnsafeBytes { mine in mine.count == other.count && mine.elementsEqual(other) }
        }
    }
}

/// One header of a polled message (borrowed like ``KafkaBytes``).
package struct KafkaHeader {
    /// The header name's bytes (UTF-8).
    package let name: KafkaBytes
    /// The header value, or nil for a header with a null value.
    package let value: KafkaBytes?
}

/// A message returned by ``KafkaConsumer/poll(timeout:maxMessages:)``.
///
/// A borrowed view: reading any field allocates nothing, and the message with
/// all bytes read from it is valid only until the next poll or close of its consumer.
public struct KafkaMessage {
    @usableFromInline let raw: UnsafeMutablePointer<rd_kafka_message_t>
    @usableFromInline unowned(unsafe) let topics: TopicNameCache

    @inlinable init(raw: UnsafeMutablePointer<rd_kafka_message_t>, topics: TopicNameCache) {
        self.raw = raw
        self.topics = topics
    }

    /// The topic name; cached per topic handle, so no String is created per message.
    package var topic: String { topics.name(of: raw.pointee.rkt) }

    /// Equal for messages of the same topic in one batch: telling topics apart this way
    /// costs a pointer comparison, where ``topic`` costs a reference count.
    @inlinable public var topicIdentity: KafkaTopicIdentity { KafkaTopicIdentity(handle: raw.pointee.rkt) }

    /// The partition the message was read from.
    @inlinable public var partition: Int32 { raw.pointee.partition }

    /// The message's offset in its partition.
    @inlinable public var offset: Int64 { raw.pointee.offset }

    /// The message timestamp (epoch milliseconds; create or log-append time), or nil if absent.
    @inlinable public var timestamp: Int64? {
        // Messages made in memory (the runtime simulation's) keep theirs where librdkafka's
        // message has no field for it; a branch the record path always predicts.
        if _slowPath(topics.inMemory) { return topics.inMemoryTimestamp(of: raw) }
        let ts = rd_kafka_message_timestamp(raw, nil)
        return ts < 0 ? nil : ts
    }

    /// The key, or nil when the message has no key.
    @inlinable public var key: KafkaBytes? {
        let m = raw.pointee
        guard let key = m.key else { return nil }
        return KafkaBytes(base: UnsafeRawPointer(key), count: m.key_len)
    }

    /// The value, or nil for a tombstone (a message with a null value).
    @inlinable public var value: KafkaBytes? {
        let m = raw.pointee
        guard let payload = m.payload else { return nil }
        return KafkaBytes(base: UnsafeRawPointer(payload), count: m.len)
    }

    /// The value of the last header named `name`: nil if absent, empty for a null-valued header.
    package func header(_ name: String) -> KafkaBytes? {
        if topics.inMemory {
            let header = InMemoryMessages.headers(of: raw).last { $0.name.elementsEqual(utf8: name) }
            return header.map { $0.value ?? KafkaBytes(base: nil, count: 0) }
        }
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(raw, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        let err = name.withCString { rd_kafka_header_get_last(headers, $0, &value, &size) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaBytes(base: value, count: value == nil ? 0 : size)
    }

    /// All headers in order.
    package var headers: Headers {
        if topics.inMemory { return Headers(list: nil, inMemory: InMemoryMessages.headers(of: raw)) }
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(raw, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR else { return Headers(list: nil) }
        return Headers(list: headers)
    }

    /// The headers of a message, in order (borrowed like the message).
    package struct Headers: RandomAccessCollection {
        let list: OpaquePointer?
        var inMemory: [KafkaHeader]? = nil

        /// Always 0.
        package var startIndex: Int { 0 }
        /// The number of headers.
        package var endIndex: Int { inMemory?.count ?? list.map { rd_kafka_header_cnt($0) } ?? 0 }

        /// The header at `position`.
        package subscript(position: Int) -> KafkaHeader {
            if let inMemory { return inMemory[position] }
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            let err = rd_kafka_header_get_all(list, position, &name, &value, &size)
            precondition(err == RD_KAFKA_RESP_ERR_NO_ERROR && name != nil, "header index out of range")
            let nameBytes = KafkaBytes(base: UnsafeRawPointer(name), count: cStringLength(name!))
            return KafkaHeader(name: nameBytes, value: value.map { KafkaBytes(base: $0, count: size) })
        }
    }
}

/// The messages of one poll, in the order librdkafka returned them.
/// Borrowed: valid until the next poll or close of the consumer.
public struct KafkaMessageBatch: RandomAccessCollection {
    @usableFromInline let storage: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>?
    /// The number of messages.
    public let count: Int
    @usableFromInline unowned(unsafe) let topics: TopicNameCache

    init(storage: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>?, count: Int, topics: TopicNameCache) {
        self.storage = storage
        self.count = count
        self.topics = topics
    }

    /// Always 0.
    @inlinable public var startIndex: Int { 0 }
    /// The number of messages.
    @inlinable public var endIndex: Int { count }

    /// The message at `position`.
    @inlinable public subscript(position: Int) -> KafkaMessage {
        precondition(position >= 0 && position < count, "batch index out of range")
        return KafkaMessage(raw: storage.unsafelyUnwrapped[position], topics: topics)
    }

    /// Names every topic of the batch, on the polling thread: afterwards ``KafkaMessage/topic``
    /// of its messages only reads, and other threads lent the batch may ask it too.
    package func nameTopics() {
        var last: KafkaTopicIdentity?
        for message in self where message.topicIdentity != last {
            last = message.topicIdentity
            _ = message.topic
        }
    }
}

/// See ``KafkaMessage/topicIdentity``; only meaningful among messages of one batch.
public struct KafkaTopicIdentity: Equatable {
    @usableFromInline let handle: OpaquePointer?
    @inlinable init(handle: OpaquePointer?) { self.handle = handle }
}

/// Topic names per `rd_kafka_topic_t` handle, filled on first sight.
///
/// A name is added on the polling thread of its consumer, by the first look at a message of
/// its topic. Other threads may read the names of a batch lent to them (`tidemark run`'s shard
/// threads, during a step) once ``KafkaMessageBatch/nameTopics()`` has named its topics on the
/// polling thread: their lookups then only read. (A lookup that also remembered the last
/// handle, as this did, wrote on every change of topic: two shards stepping at once corrupted
/// the cache and crashed.)
@usableFromInline final class TopicNameCache {
    private var names: [OpaquePointer: String] = [:]
    /// Whether the messages named are made in memory (see ``InMemoryMessages``).
    @usableFromInline let inMemory: Bool

    init(inMemory: Bool = false) { self.inMemory = inMemory }

    /// Names a handle that librdkafka did not make.
    func register(_ handle: OpaquePointer, name: String) { names[handle] = name }

    /// The timestamp of a message made in memory (out of line: the record path never calls it).
    @usableFromInline func inMemoryTimestamp(of raw: UnsafeMutablePointer<rd_kafka_message_t>) -> Int64? {
        InMemoryMessages.timestamp(of: raw)
    }

    func name(of handle: OpaquePointer?) -> String {
        guard let handle else { return "" }
        if let known = names[handle] { return known }
        let name = String(cString: rd_kafka_topic_name(handle))
        names[handle] = name
        return name
    }
}
