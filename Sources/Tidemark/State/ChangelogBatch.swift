// The changelog records of one checkpoint, encoded at once into one buffer: the state as it
// was when the checkpoint was taken, to be produced once every output before it is safe.
import Streaming

/// Changelog records waiting to be produced.
package struct ChangelogBatch {
    package struct Record {
        package var topic: String
        package var partition: Int32
        package var key: Range<Int>
        /// Nil for a tombstone.
        package var value: Range<Int>?
        /// The input position the record covers (a tombstone carries it in a header).
        package var position: Int64
        /// Whether this is the partition record (which names its cluster in a header).
        package var isPartition = false
        /// The partition record's origins header (see ``ChangelogValue/originsHeader``).
        package var origins: String?
    }

    package private(set) var bytes: [UInt8] = []
    package private(set) var records: [Record] = []
    /// The engine's uncompressed state, reused from record to record.
    private var scratch: [UInt8] = []

    package init() {}

    package var isEmpty: Bool { records.isEmpty }

    package mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        records.removeAll(keepingCapacity: true)
    }

    /// Appends the record of one device: its state from `engine`, or a tombstone when it
    /// holds nothing.
    package mutating func appendDevice(
        _ device: DeviceID, of state: PartitionState, topic: String, partition: Int32, position: Int64
    ) {
        let keyStart = bytes.count
        var name = state.devices.name(of: device)
        name.withUTF8 { ChangelogKey.appendDevice(UnsafeRawBufferPointer($0), to: &bytes) }
        let key = keyStart..<bytes.count
        scratch.removeAll(keepingCapacity: true)
        guard state.engine.encode(device: device, into: &scratch) else {
            records.append(Record(topic: topic, partition: partition, key: key, value: nil, position: position))
            return
        }
        appendValue(signature: state.engine.stateSignature, position: position, topic: topic, partition: partition, key: key)
    }

    /// Appends the partition record: what the whole state covers, and the partition's own
    /// engine state (its watermark, with `per: partition`).
    package mutating func appendPartition(of state: PartitionState, topic: String, partition: Int32, position: Int64) {
        let keyStart = bytes.count
        bytes.append(contentsOf: ChangelogKey.partitionKey)
        scratch.removeAll(keepingCapacity: true)
        _ = state.engine.encode(partition: partition, into: &scratch)
        appendValue(
            signature: state.engine.stateSignature, position: position, topic: topic, partition: partition,
            key: keyStart..<bytes.count)
        records[records.count - 1].isPartition = true
        records[records.count - 1].origins = state.origins.text
    }

    private mutating func appendValue(signature: UInt64, position: Int64, topic: String, partition: Int32, key: Range<Int>) {
        let valueStart = bytes.count
        scratch.withUnsafeBytes { ChangelogValue.append(signature: signature, position: position, state: $0, to: &bytes) }
        records.append(Record(topic: topic, partition: partition, key: key, value: valueStart..<bytes.count, position: position))
    }
}
