// Rebuilds one app's state for one input partition from the live records of its changelog
// partition: the newest record of each key, then each device restored into a fresh engine.
import Streaming

/// The newest record of each key of one changelog partition, as read.
package struct ChangelogContents {
    /// The partition record: its signature, position and engine state bytes.
    package var partition: (signature: UInt64, position: Int64, state: [UInt8])?
    /// The cluster the partition record says its positions belong to (nil: not said).
    package var cluster: String?
    /// The partition record's origins (see ``PartitionState/origins``).
    package var origins = TakenOrigins()
    /// Per device id (its bytes): its signature, position and state; a nil state is a tombstone.
    package var devices: [[UInt8]: (signature: UInt64, position: Int64, state: [UInt8]?)] = [:]
    /// Records read and their bytes, for metrics.
    package var records = 0
    package var bytes = 0
    private var scratch: [UInt8] = []

    package init() {}

    /// Takes one changelog record (a later one of a key replaces an earlier one).
    ///
    /// - Parameters:
    ///   - tombstonePosition: a tombstone's position, from its header (read for tombstones only).
    ///   - cluster: the cluster its header names (read for the partition record only).
    ///   - origins: its origins header (read for the partition record only).
    package mutating func add(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?, tombstonePosition: @autoclosure () -> Int64?,
        cluster: @autoclosure () -> String? = nil, origins: @autoclosure () -> String? = nil
    ) throws(ChangelogRestoreError) {
        records += 1
        bytes += key.count + (value?.count ?? 0)
        guard let parsed = ChangelogKey(key) else { throw .unknownKey(Array(key.prefix(16))) }
        guard let value else {
            guard case .device(let device) = parsed else { return }
            guard let position = tombstonePosition() else { throw .tombstoneWithoutPosition }
            // A tombstone holds no state of any shape: it fits whatever signature restores it.
            devices[Array(device)] = (signature: 0, position: position, state: nil)
            return
        }
        let (signature, position): (UInt64, Int64)
        do {
            (signature, position) = try ChangelogValue.read(value, state: &scratch)
        } catch {
            throw .format(error)
        }
        switch parsed {
        case .partition:
            partition = (signature, position, scratch)
            self.cluster = cluster()
            if let text = origins() {
                guard let origins = TakenOrigins(text: text) else { throw .badOrigins(text) }
                self.origins = origins
            } else {
                self.origins = TakenOrigins()
            }
        case .device(let device): devices[Array(device)] = (signature, position, scratch)
        }
    }

    /// The furthest input position any record says its state covers, nil without records.
    package var furthestPosition: Int64? {
        devices.values.reduce(partition?.position) { furthest, record in max(furthest ?? record.position, record.position) }
    }

    /// The state these records describe for an engine of `signature` built by `makeEngine`,
    /// taking records from `freshStart` on when no partition record of that shape says where
    /// it stands. Records of another shape (an earlier version of the app) are ignored.
    ///
    /// - Parameter now: processing time; restored devices' idle timeouts start from it.
    package func restore(
        makeEngine: () -> WindowEngine, partition number: Int32, freshStart: Int64, now: Int64
    ) throws(ChangelogRestoreError) -> PartitionState {
        let engine = makeEngine()
        let signature = engine.stateSignature
        let marker = partition.flatMap { $0.signature == signature ? $0 : nil }
        let state = PartitionState(engine: engine, start: marker?.position ?? freshStart)
        if marker != nil { state.origins = origins }
        if let marker, !marker.state.isEmpty {
            do {
                try marker.state.withUnsafeBytes { bytes in
                    Result { () throws(SnapshotError) in try engine.restore(partition: number, from: bytes) }
                }.get()
            } catch {
                throw .engine(error, device: nil)
            }
        }
        for (name, record) in devices {
            guard record.state == nil || record.signature == signature else { continue }
            let device = name.withUnsafeBytes { state.devices.intern($0) }
            if let bytes = record.state {
                do {
                    try bytes.withUnsafeBytes { bytes in
                        Result { () throws(SnapshotError) in try engine.restore(device: device, from: bytes, now: now) }
                    }.get()
                } catch {
                    throw .engine(error, device: String(decoding: name, as: UTF8.self))
                }
            }
            // Written after the partition record (a checkpoint cut short): the device's own
            // record covers its readings up to its position.
            state.cover(device, until: record.position)
        }
        return state
    }
}

/// Why a changelog partition could not be restored.
package enum ChangelogRestoreError: Error, CustomStringConvertible {
    case unknownKey([UInt8])
    case tombstoneWithoutPosition
    /// A partition record whose origins header cannot be read.
    case badOrigins(String)
    case format(ChangelogFormatError)
    case engine(SnapshotError, device: String?)

    package var description: String {
        switch self {
        case .unknownKey(let prefix): "a record key no version of tidemark writes (starting \(prefix))"
        case .tombstoneWithoutPosition: "a tombstone without its \(ChangelogValue.positionHeader) header"
        case .badOrigins(let text): "a partition record whose \(ChangelogValue.originsHeader) header is not a list of origins: '\(text.prefix(64))'"
        case .format(let error): "\(error)"
        case .engine(let error, let device?): "device \(device): \(error)"
        case .engine(let error, nil): "partition state: \(error)"
        }
    }
}
