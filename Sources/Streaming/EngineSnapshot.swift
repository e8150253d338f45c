// Engine state to bytes and back. The state is flat arrays, so a snapshot is their raw
// contents; a restored engine continues with exactly the outputs the original would give.

extension WindowEngine {
    private static let magic: UInt32 = 0x5444_5745  // "TDWE"
    private static let version: UInt32 = 1

    /// The engine's whole state (not the ``DeviceTable``, which has its own snapshot and must be
    /// saved with it, since device ids index this state).
    public func snapshot() -> [UInt8] {
        var writer = SnapshotWriter()
        writer.write(Self.magic)
        writer.write(Self.version)
        writer.write(array: signature)
        writer.write(array: core.deviceWatermark)
        writer.write(array: core.devicePartition)
        writer.write(array: core.lastActive)
        writer.write(array: core.idlePrev)
        writer.write(array: core.idleNext)
        writer.write(core.idleHead)
        writer.write(core.idleTail)
        writer.write(array: core.partitionWatermark)
        writer.write(array: core.partitionNextClose)
        for devices in core.partitionDevices { writer.write(array: devices) }
        writer.write(array: core.nextEarlyEmission)
        for state in core.states { state.write(to: &writer) }
        return writer.bytes
    }

    /// Builds an engine for the same specs and restores the state of ``snapshot()``.
    public convenience init(
        series: [SeriesSpec], watermark: WatermarkSpec, fieldCount: Int, restoring bytes: [UInt8]
    ) throws {
        try self.init(series: series, watermark: watermark, fieldCount: fieldCount)
        var reader = SnapshotReader(bytes)
        guard try reader.read(UInt32.self) == Self.magic, try reader.read(UInt32.self) == Self.version else {
            throw SnapshotError.notASnapshot
        }
        guard try reader.readArray() == signature else { throw SnapshotError.specMismatch }
        core.deviceWatermark = try reader.readArray()
        core.devicePartition = try reader.readArray()
        core.lastActive = try reader.readArray()
        core.idlePrev = try reader.readArray()
        core.idleNext = try reader.readArray()
        core.idleHead = try reader.read(Int32.self)
        core.idleTail = try reader.read(Int32.self)
        core.partitionWatermark = try reader.readArray()
        core.partitionNextClose = try reader.readArray()
        core.partitionDevices = try (0 ..< core.partitionWatermark.count).map { _ throws(SnapshotError) in try reader.readArray() }
        core.nextEarlyEmission = try reader.readArray()
        let devices = core.deviceWatermark.count
        guard [core.devicePartition.count, core.lastActive.count, core.idlePrev.count, core.idleNext.count].allSatisfy({ $0 == devices }),
            core.partitionNextClose.count == core.partitionWatermark.count, core.nextEarlyEmission.count == core.states.count
        else { throw SnapshotError.corrupt }
        for s in core.states.indices { try core.states[s].read(from: &reader, devices: devices) }
        core.refreshNextTick()
        if core.watermarkSpec.scope == .partition { core.rebuildPartitions() }
        guard reader.isAtEnd else { throw SnapshotError.corrupt }
    }

    /// What must match between the engine that took a snapshot and the one restoring it.
    private var signature: [Int64] {
        var values: [Int64] = [
            Int64(fieldCount), watermarkSpec.scope == .device ? 0 : 1, watermarkSpec.outOfOrder,
            watermarkSpec.idle ?? -1, Int64(core.states.count),
        ]
        for state in core.states {
            values += [
                state.isSession ? 1 : 0, state.size, state.slide, state.gap, state.lateness, Int64(state.stride),
                Int64(state.sketchCount), Int64(state.layout.outputs.count),
            ]
        }
        return values
    }
}

extension SeriesState {
    func write(to writer: inout SnapshotWriter) {
        writer.write(array: accumulators)
        // Field by field, the format of the parallel arrays the entries once were.
        writer.write(array: entries.map(\.start))
        writer.write(array: entries.map(\.end))
        writer.write(array: entries.map(\.next))
        writer.write(array: entries.map(\.prev))
        writer.write(array: entries.map(\.updatedAt))
        writer.write(array: entries.map(\.emittedAt))
        writer.write(array: entries.map(\.revision))
        // Fixed windows keep no emitted keys; the format still carries one per entry.
        let noKeys = isSession ? [] : [Int64](repeating: 0, count: entries.count)
        writer.write(array: isSession ? emittedStart : noKeys)
        writer.write(array: isSession ? emittedEnd : noKeys)
        writer.write(array: freeEntries)
        writer.write(changes)
        writer.write(array: head)
        writer.write(array: tail)
        writer.write(array: cursor)
        for sketch in sketches {
            writer.write(sketch.zeroCount)
            for store in [sketch.positive, sketch.negative] {
                writer.write(store.minKey)
                writer.write(store.maxKey)
                writer.write(store.total)
                writer.write(array: store.counts)
            }
        }
    }

    mutating func read(from reader: inout SnapshotReader, devices: Int) throws(SnapshotError) {
        accumulators = try reader.readArray()
        let start: [Int64] = try reader.readArray()
        let end: [Int64] = try reader.readArray()
        let next: [Int32] = try reader.readArray()
        let prev: [Int32] = try reader.readArray()
        let updatedAt: [UInt64] = try reader.readArray()
        let emittedAt: [UInt64] = try reader.readArray()
        let revision: [Int64] = try reader.readArray()
        emittedStart = try reader.readArray()
        emittedEnd = try reader.readArray()
        freeEntries = try reader.readArray()
        changes = try reader.read(UInt64.self)
        head = try reader.readArray()
        tail = try reader.readArray()
        cursor = try reader.readArray()
        let entryCount = start.count
        guard accumulators.count == entryCount * stride,
            [end, emittedStart, emittedEnd, revision].allSatisfy({ $0.count == entryCount }),
            [next, prev].allSatisfy({ $0.count == entryCount }),
            updatedAt.count == entryCount, emittedAt.count == entryCount,
            [head, tail, cursor].allSatisfy({ $0.count == devices })
        else { throw .corrupt }
        if !isSession {
            emittedStart = []
            emittedEnd = []
        }
        entries = (0 ..< entryCount).map { i in
            var entry = WindowEntry(start: start[i], end: end[i])
            entry.next = next[i]
            entry.prev = prev[i]
            entry.updatedAt = updatedAt[i]
            entry.emittedAt = emittedAt[i]
            entry.revision = revision[i]
            return entry
        }
        sketches = []
        sketches.reserveCapacity(entryCount * sketchCount)
        for _ in 0 ..< entryCount * sketchCount {
            var sketch = PercentileSketch()
            sketch.zeroCount = try reader.read(UInt64.self)
            for sign in 0 ..< 2 {
                var store = PercentileSketch.Store()
                store.minKey = try reader.read(Int32.self)
                store.maxKey = try reader.read(Int32.self)
                store.total = try reader.read(UInt64.self)
                store.counts = try reader.readArray()
                if sign == 0 { sketch.positive = store } else { sketch.negative = store }
            }
            sketches.append(sketch)
        }
        // Derived state is rebuilt rather than saved: due times from the entries, and no cached
        // partial merges (the first windows to close after a restore compute their own).
        due = Array(repeating: .max, count: devices)
        for d in 0 ..< devices { refreshDue(device: d) }
        if !isSession { hotPane = Array(repeating: HotPane(), count: devices) }
        if isSliding {
            suffix = Array(repeating: 0, count: entryCount * suffixStride)
            sliding = Array(repeating: SlidingPanes(), count: devices)
            prefix = Array(repeating: 0, count: devices * stride)
        }
    }
}
