// The first step of an input topic whose records are not keyed by their device (`key: any`):
// each record is written again, keyed by its device and placed as Kafka's Java producers
// place that key, to the topic's repartition topic, which the apps read instead. A device's
// records then share one partition, in the order of its input partition.
import Kafka

/// Repartitions the records of one input topic for one shard.
///
/// Not thread-safe: it belongs to the shard that steps it.
final class Repartitioner {
    let source: String
    let target: String
    /// Reads only the device id (and checks the record is a JSON object).
    private var decoder: RecordDecoder
    /// The late topics of the apps that read through this repartitioner: a record without a
    /// device goes to each, as the app would have sent it.
    private let lateOutputs: [String]
    /// Per input partition, where it stands and its writes not yet known acknowledged.
    private var partitions: [Int32: PendingWrites] = [:]
    /// Records written since the last `takeCount`.
    private var written = 0
    private var value: [UInt8] = []

    init(source: String, target: String, deviceField: String, lateOutputs: [String]) {
        self.source = source
        self.target = target
        self.lateOutputs = lateOutputs
        decoder = RecordDecoder(schema: RecordSchema(deviceField: deviceField, timeField: nil, numericFields: []))
    }

    /// Writes one input record to the repartition topic, or to the late topics if it has no
    /// readable device id (with its key and `headers`, read only then). Nothing is decided by
    /// its event time here: the apps judge that.
    func process(
        value input: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64?, partition: Int32, offset: Int64,
        headers: () -> [KafkaOutgoingHeader], into sink: KafkaOutputSink
    ) {
        let bytes = input ?? UnsafeRawBufferPointer(start: nil, count: 0)
        // The time is the apps' to read; any timestamp stands in for it here.
        if let failure = decoder.decode(value: bytes, key: key, timestamp: 0) {
            partitions[partition, default: PendingWrites()].position = offset + 1
            let headers = headers()
            for late in lateOutputs { sink.sendLate(topic: late, key: key, value: input, reason: .malformed(failure), inputHeaders: headers) }
            return
        }
        // Every record of the partition before the oldest unacknowledged one is in the
        // repartition topic, ahead of this one in its partition.
        let floor = partitions[partition, default: PendingWrites()].floor(for: offset, acknowledged: { sink.isAcknowledged(through: $0) })
        value.removeAll(keepingCapacity: true)
        RepartitionedValue.append(partition: partition, offset: offset, floor: floor, value: bytes, to: &value)
        let token = decoder.device.withUnsafeBytes { device in
            value.withUnsafeBytes { value in sink.sendRepartitioned(topic: target, device: device, value: value, timestamp: timestamp) }
        }
        partitions[partition, default: PendingWrites()].append(token: token, offset: offset)
        written += 1
    }

    /// Carries on from the topic's previous repartitioner (the apps reading it changed):
    /// where each partition stands, and what it wrote and has not counted yet.
    func carryOn(from previous: Repartitioner) {
        partitions = previous.partitions
        written = previous.written
    }

    /// Per input partition read, the offset after the last record taken.
    var positions: some Sequence<(partition: Int32, position: Int64)> {
        partitions.lazy.map { (partition: $0.key, position: $0.value.position) }
    }

    /// Where `partition` is read up to, once a record of it was.
    func position(of partition: Int32) -> Int64? { partitions[partition]?.position }

    /// Forgets a partition taken away.
    func forget(partition: Int32) { partitions[partition] = nil }

    /// Records written since the last call.
    func takeCount() -> Int {
        defer { written = 0 }
        return written
    }
}

/// Where one input partition stands, and its writes not yet known acknowledged, oldest first,
/// in a buffer reused as they are acknowledged.
struct PendingWrites {
    /// The offset after the last record taken.
    var position: Int64 = 0
    private var tokens: [UInt64] = []
    private var offsets: [Int64] = []
    private var head = 0

    /// The offset below which every record of the partition is acknowledged, `offset` being
    /// the next one's; drops the writes acknowledged.
    mutating func floor(for offset: Int64, acknowledged: (UInt64) -> Bool) -> Int64 {
        while head < tokens.count && acknowledged(tokens[head]) { head += 1 }
        if head == tokens.count {
            tokens.removeAll(keepingCapacity: true)
            offsets.removeAll(keepingCapacity: true)
            head = 0
            return offset
        }
        return offsets[head]
    }

    /// Notes the write of the record at `offset`.
    mutating func append(token: UInt64, offset: Int64) {
        position = offset + 1
        // Compacts once the acknowledged head is the larger part.
        if head > 1024 && head * 2 > tokens.count {
            tokens.removeSubrange(0..<head)
            offsets.removeSubrange(0..<head)
            head = 0
        }
        tokens.append(token)
        offsets.append(offset)
    }
}

/// Where `run` puts a record of an app with `key: any`: the repartition partition of its
/// device. A replay takes its records there too, so that its states (and `per: partition`
/// watermarks) are the ones `run` keeps.
struct DevicePlacement {
    private var decoder: RecordDecoder
    private let partitions: Int32

    init(deviceField: String, partitions: Int32) {
        decoder = RecordDecoder(schema: RecordSchema(deviceField: deviceField, timeField: nil, numericFields: []))
        self.partitions = partitions
    }

    /// The partition of the record's device; nil if it has none (the app finds it malformed).
    mutating func partition(of value: UnsafeRawBufferPointer?) -> Int32? {
        guard let value, decoder.decode(value: value, timestamp: 0) == nil else { return nil }
        return decoder.device.withUnsafeBytes { KafkaPartitioner.murmur2($0, partitions: partitions) }
    }
}

extension AppDefinition {
    /// This app as `run` runs it: with `key: any`, it reads the repartition topic of its input.
    func readingRepartitioned(group: String) -> AppDefinition {
        guard input.repartitions, input.repartitionedFrom == nil else { return self }
        var app = self
        app.input.repartitionedFrom = input.topic
        app.input.topic = RepartitionTopic.name(group: group, topic: input.topic)
        return app
    }
}

/// The repartition topic of an input topic.
package enum RepartitionTopic {
    /// `<group>-<topic>-repartition`.
    package static func name(group: String, topic: String) -> String { "\(group)-\(topic)-repartition" }
}
