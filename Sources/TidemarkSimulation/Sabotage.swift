// Bugs planted on purpose, to show that the simulation's checks catch them: a check that no
// schedule can fail proves nothing.
import Kafka

/// A planted bug.
package enum Sabotage: Sendable {
    /// Results are acknowledged without being written, as a producer that lost
    /// records and said otherwise would.
    case acknowledgesLostResults
}

/// A producer that acknowledges results without writing them.
final class ResultLosingProducer: KafkaProducerClient {
    private let base: any KafkaProducerClient
    private var lost: [KafkaDeliveryReport] = []

    init(base: any KafkaProducerClient) { self.base = base }

    func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError) {
        if topic == "results" {
            lost.append(KafkaDeliveryReport(token: token, partition: partition ?? 0, offset: 0, error: nil))
            return
        }
        try base.send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
    }

    func poll(timeout: Duration, _ onDelivery: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        let reports = lost
        lost.removeAll()
        for report in reports { try onDelivery(report) }
        return try base.poll(timeout: reports.isEmpty ? timeout : .zero, onDelivery) + reports.count
    }

    func flush(timeout: Duration) throws(KafkaError) { try base.flush(timeout: timeout) }
    func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int32? {
        try base.partitionCount(of: topic, timeout: timeout)
    }
    func takeErrors() -> [KafkaError] { base.takeErrors() }
    func initTransactions(timeout: Duration) throws(KafkaError) { try base.initTransactions(timeout: timeout) }
    func beginTransaction() throws(KafkaError) { try base.beginTransaction() }
    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartition], group: KafkaConsumerGroupMetadata, timeout: Duration) throws(KafkaError) {
        try base.sendOffsetsToTransaction(offsets, group: group, timeout: timeout)
    }
    func commitTransaction(timeout: Duration) throws(KafkaError) { try base.commitTransaction(timeout: timeout) }
    func abortTransaction(timeout: Duration) throws(KafkaError) { try base.abortTransaction(timeout: timeout) }
}
