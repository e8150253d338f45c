// The engine's state, device by device, for a changelog: which devices changed, one device's
// state as bytes, and a device (or partition) restored from them into another engine.

extension WindowEngine {
    /// Appends every device whose state changed since the last call (readings applied,
    /// watermark moved, windows closed, purged or emitted, revisions marked or emitted), each
    /// once, and starts a new round. Costs O(changed devices).
    package func takeChangedDevices(into devices: inout [DeviceID]) {
        for d in core.changedDevices {
            devices.append(DeviceID(d))
            core.isChanged[Int(d)] = false
        }
        core.changedDevices.removeAll(keepingCapacity: true)
    }

    /// Appends every partition whose watermark moved since the last call (`per: partition`).
    package func takeChangedPartitions(into partitions: inout [Int32]) {
        for p in core.changedPartitions {
            partitions.append(p)
            core.isPartitionChanged[Int(p)] = false
        }
        core.changedPartitions.removeAll(keepingCapacity: true)
    }

    /// Appends the device's whole state to `bytes` as a compact, versioned record: its
    /// watermark (and partition), and per series its windows with their revisions, emission
    /// bookkeeping and aggregates.
    ///
    /// Returns false, appending nothing, when the device holds nothing worth keeping, so the
    /// caller can write a tombstone: a device never seen, or, with `per: partition`, one with
    /// no window whose watermark is the partition's. With `per: device` a device without
    /// windows is still kept (a few bytes), since its watermark judges its next readings.
    package func encode(device: DeviceID, into bytes: inout [UInt8]) -> Bool {
        core.encodeDevice(Int(device.index), into: &bytes)
    }

    /// Restores a device's state from a record of ``encode(device:into:)``, made by an engine
    /// with the same series (compare ``stateSignature``) and watermark scope.
    ///
    /// The device must have no state here yet (its id comes from the caller's ``DeviceTable``).
    /// Once every device's record is restored (and, with `per: partition`, each partition's:
    /// ``restore(partition:from:)``), the remaining input gives exactly the outputs the original
    /// engine would have given: the same windows, revisions and values, though devices may
    /// interleave differently. Readings the record already covers go to
    /// ``observeCovered(_:into:)`` instead of ``process(_:now:into:)``.
    ///
    /// - Parameter now: processing time; the device's idle timeout starts from it.
    /// - Throws: ``SnapshotError``: an unknown format version, bytes that do not decode or fit
    ///   together, another engine shape, or a device that already has state. The engine is
    ///   then unchanged.
    package func restore(device: DeviceID, from bytes: UnsafeRawBufferPointer, now: Int64) throws(SnapshotError) {
        try core.restoreDevice(Int(device.index), from: bytes, now: now)
    }

    /// Appends a partition's state (`per: partition`: its watermark); false, appending nothing,
    /// if the partition has none.
    package func encode(partition: Int32, into bytes: inout [UInt8]) -> Bool {
        partition >= 0 && core.encodePartition(Int(partition), into: &bytes)
    }

    /// Restores a partition's state from ``encode(partition:into:)``, before its readings. Save
    /// it no later than the records of its devices: restored devices are not closed against it
    /// here, only when its watermark next moves.
    package func restore(partition: Int32, from bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
        guard partition >= 0, Int(partition) <= DeviceRecordFormat.partitionLimit else { throw .corrupt }
        try core.restorePartition(Int(partition), from: bytes)
    }

    /// The ``stateSignature`` of an engine with these specs: computed once, when the engine is
    /// built (a checkpoint stamps it on every device record).
    static func stateSignature(series: [SeriesSpec], watermark watermarkSpec: WatermarkSpec) -> UInt64 {
        var values: [Int64] = [watermarkSpec.scope == .device ? 0 : 1, Int64(series.count)]
        for spec in series {
            switch spec.window {
            case .tumbling(let size): values += [0, size, size]
            case .hopping(let size, let slide): values += [1, size, slide]
            case .session(let gap): values += [2, gap, 0]
            }
            switch spec.emit {
            case .final: values.append(0)
            case .updates: values.append(1)
            case .every: values.append(2)
            }
            values.append(Int64(spec.aggregates.count))
            for aggregate in spec.aggregates {
                let function: Int64 =
                    switch aggregate.function {
                    case .count: 0
                    case .sum: 1
                    case .mean: 2
                    case .min: 3
                    case .max: 4
                    case .stddev: 5
                    case .first: 6
                    case .last: 7
                    case .percentile(let p): 100 + Int64(p)
                    }
                values += [function, Int64(aggregate.field ?? -1)]
            }
            // Only a series that compares adds to the hash, so the signatures of the others, and
            // the state their changelogs hold, stay what they were. 3 is no window kind: the
            // values cannot read as the next series'.
            if !spec.comparisons.isEmpty {
                values += [3, Int64(spec.comparisons.count)]
                for comparison in spec.comparisons {
                    switch comparison.reach {
                    case .offset(let offset): values += [0, offset]
                    case .over(let span): values += [1, span]
                    }
                }
            }
        }
        // FNV-1a over the values' bytes: stable across processes and builds, unlike Hasher.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in values {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ UInt64(UInt8(truncatingIfNeeded: value >> shift))) &* 0x0000_0100_0000_01b3
            }
        }
        return hash
    }
}
