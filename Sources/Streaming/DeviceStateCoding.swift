// One device's state as a compact, versioned record (a changelog value), and back. Only what
// decides future outputs is written; caches (hopping suffixes and prefixes, hot panes, due
// times, the idle list, `every` timers) are rebuilt or start afresh after a restore.

/// Layout of a device record, format version 2 (integers are LEB128 varints, "signed" ones
/// zigzagged):
///
/// ```
/// version                       1 byte
/// header                        bit 0: has a watermark, bit 1: has a partition, then the series count
/// watermark                     signed, if any: the device's own watermark
/// partition                     if any (`per: partition`)
/// per series, in spec order:
///   entries                     the device's window entries (panes, or sessions), by start
///   first open                  index of the first entry not yet closed (= entries: none), if entries > 0
///   per entry:
///     start                     fixed: in slides, signed from the watermark's slide for the first, then
///                               slides after the previous one - 1; sessions: signed from the watermark,
///                               then milliseconds after the previous session's end
///     length                    sessions only: end - start
///     updated, emitted          change counters as ranks within the device (0: never)
///     revision << 3 | flags     bit 0: revised in the open batch; sessions: bit 1 closed, bit 2 key emitted
///     slot kinds                2 bits per accumulator slot: 0 empty, 1 integer, 2 float, 3 double
///     slot values               signed varint, 4 or 8 little-endian bytes, by kind
///     per percentile sketch     zero count; per sign: buckets, then if any: first key (signed), counts
///   history                     series with comparisons only: 0 (none), or the windows kept past their
///                               lateness + 1 (closed windows within it are copied from the entries), then:
///     end                       the window number after the newest in the history, signed from the
///                               watermark's window
///     per window, oldest first:
///       gap                     windows since the previous one (the first: since end - capacity - 1)
///       slot kinds, slot values, sketches   as for an entry
/// ```
///
/// Version 1 is version 2 without history sections (it predates comparisons); it is still read.
///
/// Change counters are per series and engine-wide, but only their order within one device
/// matters (a window changed since its emission when one of its panes was updated after it),
/// so ranks keep them small and let a restore rebase them onto the restoring engine's counter.
enum DeviceRecordFormat {
    static let version: UInt8 = 2
    /// The oldest device record version still read.
    static let oldestVersion: UInt8 = 1
    static let partitionVersion: UInt8 = 1
    /// Bounds on restored times, so window arithmetic on them cannot overflow.
    static let timeLimit: Int64 = 1 << 61
    /// Bound on the first start's distance from the watermark it is written against.
    static let anchorDistanceLimit: Int64 = 1 << 62
    /// Bound on a restored partition number, so a corrupt one cannot make the engine allocate
    /// per-partition state for billions.
    static let partitionLimit = 1 << 20
}

extension EngineCore {
    /// Whether the device holds anything a restore must bring back; see
    /// ``WindowEngine/encode(device:into:)``.
    func holdsState(_ d: Int) -> Bool {
        guard d < deviceWatermark.count else { return false }
        if states.contains(where: { $0.head[d] >= 0 || $0.holdsHistory(device: d) }) { return true }
        let own = deviceWatermark[d]
        guard watermarkSpec.scope == .partition else { return own != WindowEngine.noWatermark }
        // Without windows, only an own watermark above the partition's still judges lateness.
        let partition = Int(devicePartition[d])
        return partition >= 0 && own > partitionWatermark[partition]
    }

    mutating func encodeDevice(_ d: Int, into bytes: inout [UInt8]) -> Bool {
        guard holdsState(d) else { return false }
        let watermark = deviceWatermark[d]
        let hasWatermark = watermark != WindowEngine.noWatermark
        let partitionScope = watermarkSpec.scope == .partition
        bytes.append(DeviceRecordFormat.version)
        bytes.appendVarint(UInt64(states.count) << 2 | (partitionScope ? 2 : 0) | (hasWatermark ? 1 : 0))
        if hasWatermark { bytes.appendSignedVarint(watermark) }
        if partitionScope { bytes.appendVarint(UInt64(max(0, devicePartition[d]))) }
        for s in states.indices {
            states[s].encode(device: d, watermark: hasWatermark ? watermark : 0, into: &bytes)
            if states[s].hasComparisons { states[s].encodeHistory(device: d, watermark: hasWatermark ? watermark : 0, into: &bytes) }
        }
        return true
    }

    /// Whether the device has no state at all in this engine (never seen, or only ids interned).
    func isUnseen(_ d: Int) -> Bool {
        guard d < deviceWatermark.count else { return true }
        return deviceWatermark[d] == WindowEngine.noWatermark && devicePartition[d] < 0
            && !states.contains(where: { $0.head[d] >= 0 || $0.holdsHistory(device: d) })
    }

    mutating func restoreDevice(_ d: Int, from bytes: UnsafeRawBufferPointer, now: Int64) throws(SnapshotError) {
        guard isUnseen(d) else { throw .alreadyHasState }
        var reader = StateReader(bytes)
        let version = try reader.byte()
        guard (DeviceRecordFormat.oldestVersion ... DeviceRecordFormat.version).contains(version) else {
            throw .unsupportedVersion(Int(version))
        }
        let header = try reader.varint()
        let hasWatermark = header & 1 != 0, hasPartition = header & 2 != 0
        guard header >> 2 == UInt64(states.count), hasPartition == (watermarkSpec.scope == .partition) else {
            throw .specMismatch
        }
        let watermark = hasWatermark ? try reader.signedVarint() : WindowEngine.noWatermark
        guard watermark >= WindowEngine.noWatermark && watermark <= WindowEngine.finalWatermark else { throw .corrupt }
        let partition = hasPartition ? try reader.count(atMost: DeviceRecordFormat.partitionLimit) : -1

        if d >= deviceWatermark.count { addDevices(upTo: d + 1) }
        do throws(SnapshotError) {
            for s in states.indices {
                try states[s].decode(device: d, watermark: hasWatermark ? watermark : 0, from: &reader)
                if states[s].hasComparisons {
                    try states[s].decodeHistory(
                        device: d, watermark: hasWatermark ? watermark : 0, written: version >= 2, from: &reader)
                }
            }
            guard reader.isAtEnd else { throw .corrupt }
        } catch {
            // Leave the device as unseen as it was.
            for s in states.indices { states[s].discard(device: d) }
            throw error
        }
        deviceWatermark[d] = watermark
        if partition >= 0 {
            if partition >= partitionWatermark.count { addPartitions(upTo: partition + 1) }
            move(d, to: partition)
            schedule(d, on: partition)
        }
        if watermarkSpec.idle != nil { touch(d, now: now) }
    }

    func encodePartition(_ p: Int, into bytes: inout [UInt8]) -> Bool {
        guard p < partitionWatermark.count, partitionWatermark[p] != WindowEngine.noWatermark else { return false }
        bytes.append(DeviceRecordFormat.partitionVersion)
        bytes.appendSignedVarint(partitionWatermark[p])
        return true
    }

    mutating func restorePartition(_ p: Int, from bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
        guard watermarkSpec.scope == .partition else { throw .specMismatch }
        guard p >= partitionWatermark.count || partitionWatermark[p] == WindowEngine.noWatermark else {
            throw .alreadyHasState
        }
        var reader = StateReader(bytes)
        let version = try reader.byte()
        guard version == DeviceRecordFormat.partitionVersion else { throw .unsupportedVersion(Int(version)) }
        let watermark = try reader.signedVarint()
        guard reader.isAtEnd, watermark >= WindowEngine.noWatermark && watermark <= WindowEngine.finalWatermark else {
            throw .corrupt
        }
        if p >= partitionWatermark.count { addPartitions(upTo: p + 1) }
        partitionWatermark[p] = watermark
    }
}

extension SeriesState {
    /// Writes the device's entries; `watermark` anchors the first start (0 without one).
    mutating func encode(device: Int, watermark: Int64, into bytes: inout [UInt8]) {
        var count = 0, firstOpen = -1
        counterRanks.removeAll(keepingCapacity: true)
        var e = head[device]
        while e >= 0 {
            if e == cursor[device] { firstOpen = count }
            let entry = entries[Int(e)]
            if entry.updatedAt > 0 { counterRanks.append(entry.updatedAt) }
            if entry.emittedAt > 0 { counterRanks.append(entry.emittedAt) }
            count += 1
            e = entry.next
        }
        bytes.appendVarint(UInt64(count))
        guard count > 0 else { return }
        bytes.appendVarint(UInt64(firstOpen < 0 ? count : firstOpen))
        counterRanks.sort()
        var unique = 0
        for value in counterRanks where unique == 0 || counterRanks[unique - 1] != value {
            counterRanks[unique] = value
            unique += 1
        }
        counterRanks.removeLast(counterRanks.count - unique)

        let anchor = isSession ? watermark : floorDivide(watermark, slide) * slide
        var previous: Int32 = -1
        e = head[device]
        while e >= 0 {
            let entry = entries[Int(e)]
            if isSession {
                if previous < 0 {
                    bytes.appendSignedVarint(entry.start &- anchor)
                } else {
                    bytes.appendVarint(UInt64(entry.start - entries[Int(previous)].end))
                }
                bytes.appendVarint(UInt64(entry.end - entry.start))
            } else if previous < 0 {
                bytes.appendSignedVarint((entry.start &- anchor) / slide)
            } else {
                bytes.appendVarint(UInt64((entry.start - entries[Int(previous)].start) / slide - 1))
            }
            bytes.appendVarint(rank(of: entry.updatedAt))
            bytes.appendVarint(rank(of: entry.emittedAt))
            var flags: UInt64 = pendingSlot[Int(e)] >= 0 ? 1 : 0
            if isSession { flags |= UInt64(sessionFlags[Int(e)] & 3) << 1 }
            bytes.appendVarint(UInt64(entry.revision) &<< 3 | flags)
            encodeAccumulator(accumulators, at: Int(e) * stride, into: &bytes)
            for k in 0 ..< sketchCount { sketches[Int(e) * sketchCount + k].encode(into: &bytes) }
            previous = e
            e = entry.next
        }
    }

    /// 1-based rank of a change counter among the device's (in ``counterRanks``), 0 for 0.
    private func rank(of counter: UInt64) -> UInt64 {
        guard counter > 0 else { return 0 }
        var low = 0, high = counterRanks.count
        while low < high {
            let middle = (low + high) / 2
            if counterRanks[middle] < counter { low = middle + 1 } else { high = middle }
        }
        return UInt64(low + 1)
    }

    func encodeAccumulator(_ accumulators: [Double], at base: Int, into bytes: inout [UInt8]) {
        let kinds = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: (stride + 3) / 4))
        for k in 0 ..< stride {
            let value = accumulators[base + k]
            let kind: UInt8
            if value.bitPattern == emptyAccumulator[k].bitPattern {
                kind = 0
            } else if let integer = Int64(exactly: value), value.sign == .plus || integer != 0,
                integer.magnitude < 1 << 53
            {
                kind = 1
                bytes.appendSignedVarint(integer)
            } else if Double(Float(value)).bitPattern == value.bitPattern {
                kind = 2
                bytes.appendLittleEndian(Float(value).bitPattern)
            } else {
                kind = 3
                bytes.appendLittleEndian(value.bitPattern)
            }
            bytes[kinds + k / 4] |= kind << (2 * (k % 4))
        }
    }

    /// Reads the device's entries (the device has none yet). On a throw, entries already read
    /// stay linked: the caller discards them.
    mutating func decode(device: Int, watermark: Int64, from reader: inout StateReader) throws(SnapshotError) {
        // Each entry takes at least four bytes: a cheap bound before allocating.
        let count = try reader.count(atMost: reader.remaining / 4)
        guard count > 0 else { return }
        let firstOpen = try reader.count(atMost: count)
        let limit = DeviceRecordFormat.timeLimit
        let anchor = isSession ? watermark : floorDivide(watermark, slide) * slide
        let base = changes
        var highestRank: UInt64 = 0
        var previous: Int32 = -1
        for i in 0 ..< count {
            var start: Int64, end: Int64
            if isSession {
                if previous < 0 {
                    start = try reader.signedVarint()
                    guard start.magnitude <= UInt64(DeviceRecordFormat.anchorDistanceLimit) else { throw .corrupt }
                    start += anchor
                } else {
                    start = entries[Int(previous)].end + Int64(try reader.count(atMost: Int(limit)))
                }
                let length = Int64(try reader.count(atMost: Int(limit)))
                guard length > 0 else { throw .corrupt }
                end = start + length
            } else {
                let slides: Int64
                if previous < 0 {
                    slides = try reader.signedVarint()
                    guard slides.magnitude <= UInt64(DeviceRecordFormat.anchorDistanceLimit / slide) else { throw .corrupt }
                    start = anchor + slides * slide
                } else {
                    let skipped = Int64(try reader.count(atMost: Int(limit / slide)))
                    start = entries[Int(previous)].start + (skipped + 1) * slide
                }
                end = start + size
            }
            guard start.magnitude <= UInt64(limit), end.magnitude <= UInt64(limit) else { throw .corrupt }

            let updated = try reader.count(atMost: 2 * count), emitted = try reader.count(atMost: 2 * count)
            highestRank = max(highestRank, UInt64(updated), UInt64(emitted))
            let word = try reader.varint()
            let flags = word & 7
            guard isSession || flags < 2 else { throw .corrupt }

            let entry = allocate(start: start, end: end)
            link(entry, device: device, after: tail[device], before: -1)
            let e = Int(entry)
            entries[e].updatedAt = updated == 0 ? 0 : base + UInt64(updated)
            entries[e].emittedAt = emitted == 0 ? 0 : base + UInt64(emitted)
            entries[e].revision = Int64(word >> 3)
            if isSession { sessionFlags[e] = UInt8(flags >> 1) }
            try Self.decodeAccumulator(into: &accumulators, at: e * stride, stride: stride, from: &reader)
            for k in 0 ..< sketchCount { try sketches[e * sketchCount + k].decode(from: &reader) }
            guard accumulatorIsConsistent(accumulators, at: e * stride, sketches: sketches, at: e * sketchCount) else { throw .corrupt }
            if flags & 1 != 0 { markRevised(entry, device: device) }
            if i == firstOpen { cursor[device] = entry }
            previous = entry
        }
        changes = base + highestRank
        refreshDue(device: device)
    }

    static func decodeAccumulator(
        into accumulators: inout [Double], at base: Int, stride: Int, from reader: inout StateReader
    ) throws(SnapshotError) {
        let kindBytes = (stride + 3) / 4
        guard reader.remaining >= kindBytes else { throw .corrupt }
        let kinds = reader.position
        reader.position += kindBytes
        for k in 0 ..< stride {
            switch (reader.bytes[kinds + k / 4] >> (2 * (k % 4))) & 3 {
            case 0: break
            case 1: accumulators[base + k] = Double(try reader.signedVarint())
            case 2: accumulators[base + k] = Double(Float(bitPattern: try reader.littleEndian(UInt32.self)))
            default: accumulators[base + k] = Double(bitPattern: try reader.littleEndian(UInt64.self))
            }
        }
    }

    /// Counts are whole and agree with each other and the sketches, so nothing computed from
    /// them later (revisions, quantile ranks) can trap.
    func accumulatorIsConsistent(
        _ accumulators: [Double], at base: Int, sketches: [PercentileSketch], at sketchBase: Int
    ) -> Bool {
        func isCount(_ x: Double, atMost bound: Double) -> Bool { x >= 0 && x <= bound && x == x.rounded() }
        let count = accumulators[base]
        guard isCount(count, atMost: 0x1p53) else { return false }
        for f in layout.fields {
            let n = accumulators[base + f.n]
            guard isCount(n, atMost: count) else { return false }
            if f.sketch >= 0 && Double(sketches[sketchBase + f.sketch].count) != n { return false }
        }
        return true
    }

    /// Releases every entry of the device, and its history (a restore that failed half-way).
    mutating func discard(device: Int) {
        while head[device] >= 0 { release(head[device], device: device) }
        if hasComparisons { history.release(device: device) }
        cursor[device] = -1
        due[device] = .max
    }
}

extension PercentileSketch {
    func encode(into bytes: inout [UInt8]) {
        bytes.appendVarint(zeroCount)
        for store in [positive, negative] {
            bytes.appendVarint(UInt64(store.counts.count))
            guard !store.counts.isEmpty else { continue }
            bytes.appendSignedVarint(Int64(store.minKey))
            for count in store.counts { bytes.appendVarint(UInt64(count)) }
        }
    }

    /// Reads into a reset sketch, reusing its bucket storage.
    mutating func decode(from reader: inout StateReader) throws(SnapshotError) {
        zeroCount = try reader.varint()
        var total = zeroCount
        for sign in 0 ..< 2 {
            let buckets = try reader.count(atMost: PercentileSketch.maxBuckets)
            guard buckets > 0 else { continue }
            let minKey = try reader.signedVarint()
            // Keys come from a double's exponent: a few tens of thousands either way.
            guard minKey.magnitude <= 1 << 24 else { throw .corrupt }
            var store = Store()
            if sign == 0 { swap(&store, &positive) } else { swap(&store, &negative) }
            store.counts.removeAll(keepingCapacity: true)
            store.minKey = Int32(minKey)
            store.maxKey = Int32(minKey) + Int32(buckets) - 1
            store.total = 0
            for _ in 0 ..< buckets {
                let count = try reader.varint()
                guard count <= UInt64(UInt32.max) else { throw .corrupt }
                store.counts.append(UInt32(count))
                store.total += count
            }
            let (sum, overflow) = total.addingReportingOverflow(store.total)
            guard !overflow else { throw .corrupt }
            total = sum
            if sign == 0 { swap(&store, &positive) } else { swap(&store, &negative) }
        }
    }
}
