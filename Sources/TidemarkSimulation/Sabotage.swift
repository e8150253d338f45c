// Bugs planted on purpose, to show that the simulation's checks catch them: a check that no
// schedule can fail proves nothing.
import Kafka
import Tidemark

/// A planted bug.
package enum Sabotage: Sendable {
    /// Results are acknowledged without being written, as a producer that lost
    /// records and said otherwise would.
    case acknowledgesLostResults
    /// Every record written to a repartition topic carries an origin never seen before, so a
    /// state takes each copy of a record written twice, as a state whose dedupe took every
    /// origin would.
    case takesEveryOrigin
}

/// The origins ``Sabotage/takesEveryOrigin`` hands out: each larger than all before it, across
/// the run's processes, so that every copy is newer than what any state has taken. The checks
/// read the true ones back.
final class ForgedOrigins {
    /// The input offset of each forged one (its index).
    private var trueOffsets: [Int64] = []

    func forge(_ offset: Int64) -> Int64 {
        trueOffsets.append(offset)
        return Int64(trueOffsets.count - 1)
    }

    /// The input offset an origin stands for (itself, unless forged).
    func trueOffset(of offset: Int64) -> Int64 {
        trueOffsets.indices.contains(Int(offset)) ? trueOffsets[Int(offset)] : offset
    }
}

/// A producer that replaces the input offset in each repartitioned record's origin by a new one.
final class OriginForgingProducer: ForwardingProducer {
    private let origins: ForgedOrigins
    private var forged: [UInt8] = []

    init(base: any KafkaProducerClient, origins: ForgedOrigins) {
        self.origins = origins
        super.init(base: base)
    }

    override func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError) {
        guard topic.hasSuffix("-repartition"), let value, let origin = RepartitionedValue.read(value) else {
            try base.send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
            return
        }
        forged.removeAll(keepingCapacity: true)
        let offset = origins.forge(origin.offset)
        RepartitionedValue.append(partition: origin.partition, offset: offset, floor: offset, value: origin.value, to: &forged)
        try forged.withUnsafeBytes { forged in
            Result { () throws(KafkaError) in
                try base.send(topic: topic, partition: partition, key: key, value: forged, headers: headers, timestamp: timestamp, token: token)
            }
        }.get()
    }

}

/// A producer that acknowledges results without writing them.
final class ResultLosingProducer: ForwardingProducer {
    private var lost: [KafkaDeliveryReport] = []

    override func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError) {
        if topic == "results" {
            lost.append(KafkaDeliveryReport(token: token, partition: partition ?? 0, offset: 0, error: nil))
            return
        }
        try base.send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
    }

    override func poll(timeout: Duration, _ onDelivery: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        let reports = lost
        lost.removeAll()
        for report in reports { try onDelivery(report) }
        return try base.poll(timeout: reports.isEmpty ? timeout : .zero, onDelivery) + reports.count
    }

}

/// A producer that hands every call to `base`: what a planted bug changes, it overrides.
class ForwardingProducer: KafkaProducerClient {
    let base: any KafkaProducerClient

    init(base: any KafkaProducerClient) { self.base = base }

    func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError) {
        try base.send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp, token: token)
    }

    func poll(timeout: Duration, _ onDelivery: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        try base.poll(timeout: timeout, onDelivery)
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
