// The calls Tidemark's runtime makes on its Kafka clients, as protocols: `KafkaConsumer` and
// `KafkaProducer` are the real ones, and the runtime simulation's in-memory cluster provides
// others, so that the same consumer loop, shards, restorer and sinks run over either.
//
// Existentials cost a call per poll, send or commit, never per record read: the record path
// reads the borrowed messages of a `KafkaMessageBatch` directly.

/// A consumer, in a group (subscribe) or reading partitions it assigns itself (assign).
/// See ``KafkaConsumer`` for what each call means.
package protocol KafkaConsumerClient: AnyObject {
    /// Whether a revocation takes partitions away for good (`cooperative-sticky`).
    var rebalancesIncrementally: Bool { get }
    func subscribe(topics: [String]) throws(KafkaError)
    func assign(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    func poll(timeout: Duration, maxMessages: Int) throws(KafkaError) -> KafkaConsumerPoll
    func commit(asynchronously offsets: [KafkaTopicPartition]) throws(KafkaError)
    func commit(_ offsets: [KafkaTopicPartition]?, timeout: Duration) throws(KafkaError)
    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition]
    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    func seek(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError)
    func offsetsForTimes(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition]
    func watermarks(topic: String, partition: Int32, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64)
    /// The last known end of a partition, without asking the broker.
    func cachedHighWatermark(topic: String, partition: Int32) -> Int64?
    /// The id of the cluster the client is connected to; nil while unknown.
    func clusterID(timeout: Duration) -> String?
    func takeOffsetResets() -> [KafkaOffsetReset]
    func groupMetadata() -> KafkaConsumerGroupMetadata
    /// Leaves the group within `timeout`; returns whether it did.
    func close(timeout: Duration) throws(KafkaError) -> Bool
}

/// A producer, transactional when configured with `transactional.id`.
/// See ``KafkaProducer`` for what each call means.
package protocol KafkaProducerClient: AnyObject {
    func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError)
    @discardableResult
    func poll(timeout: Duration, _ onDelivery: (KafkaDeliveryReport) throws -> Void) rethrows -> Int
    func flush(timeout: Duration) throws(KafkaError)
    func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int32?
    func takeErrors() -> [KafkaError]
    func initTransactions(timeout: Duration) throws(KafkaError)
    func beginTransaction() throws(KafkaError)
    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartition], group: KafkaConsumerGroupMetadata, timeout: Duration) throws(KafkaError)
    func commitTransaction(timeout: Duration) throws(KafkaError)
    func abortTransaction(timeout: Duration) throws(KafkaError)
}

extension KafkaConsumer: KafkaConsumerClient {}
extension KafkaProducer: KafkaProducerClient {}

extension KafkaProducerClient {
    /// Queues a message with no timestamp of its own (see the requirement).
    package func send(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader] = [], token: UInt64
    ) throws(KafkaError) {
        try send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: nil, token: token)
    }
}
