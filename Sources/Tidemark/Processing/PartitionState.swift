// One app's state for one input partition: its window engine, the device table whose ids
// index the engine, and what of the partition the state already covers. Kept per partition so
// that a partition's state can be checkpointed to, restored from and dropped with the
// partition's own changelog partition, wherever the partition goes.
import Streaming

/// The state of one app for one input partition.
///
/// Coverage: a state restored from a changelog covers every record before ``start``; a device
/// whose record was written after the partition's (a checkpoint cut short by a crash) also
/// covers its own records up to its position. Covered records are read again after a
/// restart, but must not be applied twice.
package final class PartitionState {
    package let engine: WindowEngine
    package var devices = DeviceTable()
    /// Records at offsets before this are covered (or are not this state's to see).
    package private(set) var start: Int64
    /// The offset after the last record taken (processed, covered or skipped): what a
    /// checkpoint of this state covers.
    package var position: Int64
    /// The position at the last checkpoint.
    package var checkpointed: Int64
    /// The largest event time the engine took.
    package var maxEventTime: Int64?
    /// Whether the state stands behind where the partition is read for the other apps (an
    /// app that starts in the past): it takes records from a catch-up reader of its own until
    /// it reaches them, and none from the shared stream.
    package var catchingUp = false
    /// Per device id, the offset up to which the device's own record covers its readings,
    /// beyond ``start``; empty when no device is ahead.
    private var coveredUntil: [Int64] = []
    /// No device is covered at or after this offset: past it, nothing is looked up.
    private var replayEnd: Int64 = .min
    /// Records before this offset may have been read before, by an owner that crashed
    /// after its last checkpoint (where the partition ended when the state was restored).
    package var replayUntil: Int64 = .min
    /// Reading a repartition topic: the records of each input partition taken.
    package var origins = TakenOrigins()

    /// A fresh state (no record seen) that takes records from `start` on.
    package init(engine: WindowEngine, start: Int64) {
        self.engine = engine
        self.start = start
        position = start
        checkpointed = start
    }

    /// Whether the device's own changelog record covers its reading at `offset`.
    @inline(__always)
    func covers(_ device: DeviceID, at offset: Int64) -> Bool {
        guard offset < replayEnd else { return false }
        let index = Int(device.index)
        return index < coveredUntil.count && offset < coveredUntil[index]
    }

    /// What a record of `device` written now covers: the state's position, or further where
    /// the device's restored record covered more (its readings up to there are in its state,
    /// and were skipped when read again).
    package func position(of device: DeviceID) -> Int64 {
        let index = Int(device.index)
        return index < coveredUntil.count ? max(position, coveredUntil[index]) : position
    }

    /// Tells the engine whether the record at `offset` is read again (see ``replayUntil``).
    @inline(__always)
    func noteReplay(at offset: Int64) {
        if _slowPath(replayUntil != .min) { updateReplay(at: offset) }
    }

    @inline(never)
    private func updateReplay(at offset: Int64) {
        let replaying = offset < replayUntil
        if !replaying { replayUntil = .min }
        engine.replaying = replaying
    }

    /// Takes the origin of a repartitioned record; false if a record of that origin was taken.
    @inline(__always)
    package func takeOrigin(partition: Int32, offset: Int64, floor: Int64) -> Bool {
        origins.take(partition: partition, offset: offset, floor: floor)
    }

    /// Notes that `device`'s record covers its readings before `offset`.
    package func cover(_ device: DeviceID, until offset: Int64) {
        guard offset > start else { return }
        let index = Int(device.index)
        if index >= coveredUntil.count { coveredUntil.append(contentsOf: repeatElement(.min, count: index + 1 - coveredUntil.count)) }
        coveredUntil[index] = max(coveredUntil[index], offset)
        replayEnd = max(replayEnd, offset)
    }

    /// Takes records from `offset` on, no earlier than before: a state that has seen up to
    /// here skips a partition read again from further back.
    package func skip(until offset: Int64) {
        start = max(start, offset)
        position = max(position, start)
    }

    /// The most advanced watermark: the largest event time taken, less `outOfOrder`.
    func maxWatermark(outOfOrder: Int64) -> Int64? { maxEventTime.map { $0 - outOfOrder } }
}

extension PartitionState {
    /// This state carried over to `engine`, a later version of the app whose records have the
    /// same shape (same ``WindowEngine/stateSignature``), through the changelog encoding.
    package func migrated(to engine: WindowEngine, partition: Int32, now: Int64) throws(SnapshotError) -> PartitionState {
        let next = PartitionState(engine: engine, start: start)
        next.position = position
        next.checkpointed = checkpointed
        next.maxEventTime = maxEventTime
        next.catchingUp = catchingUp
        next.coveredUntil = coveredUntil
        next.replayEnd = replayEnd
        next.origins = origins
        var bytes: [UInt8] = []
        if self.engine.encode(partition: partition, into: &bytes) {
            try bytes.withUnsafeBytes { bytes in Result { () throws(SnapshotError) in try engine.restore(partition: partition, from: bytes) } }.get()
        }
        for index in 0..<devices.count {
            let device = next.devices.intern(devices.name(of: DeviceID(Int32(index))))
            bytes.removeAll(keepingCapacity: true)
            guard self.engine.encode(device: DeviceID(Int32(index)), into: &bytes) else { continue }
            try bytes.withUnsafeBytes { bytes in Result { () throws(SnapshotError) in try engine.restore(device: device, from: bytes, now: now) } }.get()
        }
        return next
    }
}

extension AppDefinition {
    /// A fresh engine for this app. Loading an app validates its specs, so it cannot fail.
    func makeEngine() -> WindowEngine {
        // A loaded app passed WindowEngine.validate; only a hand-built definition can get here.
        try! WindowEngine(series: series.map(\.spec), watermark: watermark, fieldCount: numericFields.count)
    }
}
