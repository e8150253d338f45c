// The open windows of one series for all devices, in flat storage: a pool of entries (a pane
// of a tumbling/hopping series, or a session), threaded per device into a doubly linked list
// sorted by start. A device with no open window costs a few dozen bytes of per-device arrays.

/// All windows of one series; tumbling and hopping share one code path (a tumbling window is
/// a hopping window with one pane), sessions have their own (see SessionWindows.swift).
struct SeriesState {
    let index: Int32
    let isSession: Bool
    /// Window size and pane width (hopping slide; equal for tumbling); unused for sessions.
    let size: Int64
    let slide: Int64
    let gap: Int64
    let lateness: Int64
    let emit: EmitPolicy
    let layout: AccumulatorLayout
    let stride: Int
    let sketchCount: Int
    let output: PendingResults

    // Entry pool, indexed by entry.
    var accumulators: [Double] = []
    var sketches: [PercentileSketch] = []
    /// Each entry's bounds, links and emission bookkeeping, together: closing a window reads
    /// them all, so one place in memory instead of seven.
    var entries: [WindowEntry] = []
    /// Sessions (empty for fixed windows): ``SessionFlags`` per entry.
    var sessionFlags: [UInt8] = []
    /// Records read again after a restore are applied: see ``WindowEngine/replaying``.
    var replaying = false
    /// Per entry, its place in ``pending``, or -1: kept apart from ``entries`` because only
    /// late updates and purges read it.
    var pendingSlot: [Int32] = []
    /// Windows revised since the caller last ended a batch, in order of their first revision;
    /// an entry of -1 is a window emitted or released since (see Revisions.swift).
    var pending: [PendingWindow] = []
    var freeEntries: [Int32] = []
    /// The series' change counter: ``WindowEntry/updatedAt`` and ``WindowEntry/emittedAt``
    /// are its values, compared only between entries of one device.
    var changes: UInt64 = 0
    /// The empty accumulator, for the state encoding (a slot holding its value costs nothing).
    let emptyAccumulator: [Double]
    /// Scratch for the state encoding: one device's change counters, sorted.
    var counterRanks: [UInt64] = []

    // Per device.
    var head: [Int32] = []
    var tail: [Int32] = []
    /// The first entry whose window is still open (end > watermark), or -1.
    var cursor: [Int32] = []
    /// A lower bound on the watermark at which ``close(device:watermark:)`` has work: the end
    /// of the first open window, or when the oldest entry becomes unreachable. Kept in its own
    /// small array so the per-record check touches no entry.
    var due: [Int64] = []

    // Hopping windows closing in order (see FixedWindows.swift): panes are grouped in blocks of
    // size/slide panes aligned on the window size, so a window is a suffix of one block merged
    // with a prefix of the next; suffixes are computed once per block, prefixes grow by a pane
    // per window. Each pane is merged a constant number of times instead of size/slide times.
    let isSliding: Bool
    /// Per entry, `stride + 2` doubles: this pane merged with the later panes of its block, then
    /// (as bit patterns) their latest change and the computation (epoch) it belongs to; one run
    /// so that reading a suffix touches one place.
    var suffix: [Double] = []
    var suffixStride: Int { stride + 2 }
    var slidingEpoch: UInt64 = 0
    /// Per device: which suffixes and prefix are current, and the prefix itself (`stride` doubles).
    var sliding: [SlidingPanes] = []
    var prefix: [Double] = []
    /// Fixed windows, per device: the pane of the device's last record.
    var hotPane: [HotPane] = []

    // Comparisons (tumbling windows; see Comparisons.swift).
    /// Per comparison, in spec order, how far back it reads.
    let comparisons: [ComparisonReach]
    let hasComparisons: Bool
    /// The windows a window reads: every lag (in windows) from 1 to `mergedLags`, and `offsetLags`.
    let mergedLags: Int64
    let offsetLags: [Int64]
    /// The longest lag read, in windows (0 without comparisons).
    let longestLag: Int64
    var history: WindowHistory
    /// Scratch for an open window's comparisons: the device's entries it may read.
    var liveScratch: [Int32] = []
    /// Where ``touchHistory(closing:device:)`` leaves what it read, so its loads are kept.
    var historyTouch = 0.0

    // Scratch for combining panes at emission.
    var scratch: [Double]
    /// The second of a span's two running merges (see `mergeSpan`).
    var spanScratch: [Double]
    var scratchSketches: [PercentileSketch]

    init(index: Int, spec: SeriesSpec, output: PendingResults) {
        self.index = Int32(index)
        switch spec.window {
        case .tumbling(let size):
            isSession = false
            self.size = size
            slide = size
            gap = 0
        case .hopping(let size, let slide):
            isSession = false
            self.size = size
            self.slide = slide
            gap = 0
        case .session(let gap):
            isSession = true
            size = 0
            slide = 1
            self.gap = gap
        }
        lateness = spec.allowedLateness
        emit = spec.emit
        layout = AccumulatorLayout(spec.aggregates)
        stride = layout.stride
        sketchCount = layout.sketchCount
        self.output = output
        scratch = Array(repeating: 0, count: layout.stride)
        spanScratch = scratch
        var empty = [Double](repeating: 0, count: layout.stride)
        let emptyLayout = layout
        empty.withUnsafeMutableBufferPointer { emptyLayout.reset($0.baseAddress!) }
        emptyAccumulator = empty
        scratchSketches = Array(repeating: PercentileSketch(), count: layout.sketchCount)
        isSliding = !isSession && size > slide
        let size = max(self.size, 1)  // sessions have no size, and no comparisons either
        var reaches = spec.comparisons.map { comparison in
            switch comparison.reach {
            case .offset(let offset): ComparisonReach(windows: offset / size, merges: false)
            case .over(let span): ComparisonReach(windows: span / size, merges: true)
            }
        }
        hasComparisons = !reaches.isEmpty
        mergedLags = reaches.filter(\.merges).map(\.windows).max() ?? 0
        offsetLags = Array(Set(reaches.filter { !$0.merges }.map(\.windows))).sorted()
        longestLag = reaches.map(\.windows).max() ?? 0
        let latenessWindows = (spec.allowedLateness + size - 1) / size
        history = WindowHistory(
            capacity: hasComparisons ? Int(longestLag + latenessWindows + 1) : 0, stride: layout.stride,
            sketchCount: layout.sketchCount)
        let capacity = Int64(max(history.capacity, 1))
        for c in reaches.indices { reaches[c].ringLag = Int(reaches[c].windows % capacity) }
        comparisons = reaches
    }

    mutating func addDevices(upTo count: Int) {
        let extra = count - head.count
        guard extra > 0 else { return }
        head.append(contentsOf: repeatElement(-1, count: extra))
        tail.append(contentsOf: repeatElement(-1, count: extra))
        cursor.append(contentsOf: repeatElement(-1, count: extra))
        due.append(contentsOf: repeatElement(.max, count: extra))
        if !isSession { hotPane.append(contentsOf: repeatElement(HotPane(), count: extra)) }
        if hasComparisons { history.addDevices(upTo: count) }
        if isSliding {
            sliding.append(contentsOf: repeatElement(SlidingPanes(), count: extra))
            prefix.append(contentsOf: repeatElement(0, count: extra * stride))
        }
    }

    /// Recomputes ``due`` for a device from its entries (and its history, which ages out).
    mutating func refreshDue(device: Int) {
        let open = cursor[device], first = head[device]
        let closes = open >= 0 ? entries[Int(open)].end : .max
        let expires = first >= 0 ? entries[Int(first)].end + lateness + gap : .max
        due[device] = min(closes, expires, hasComparisons ? historyExpiry(device: device) : .max)
    }

    /// Makes `entry` the device's first open window if it starts before the current one.
    mutating func reopen(_ entry: Int32, device: Int, includingEqualStart: Bool) {
        let open = cursor[device]
        if open < 0 || entries[Int(open)].start > entries[Int(entry)].start
            || (includingEqualStart && entries[Int(open)].start == entries[Int(entry)].start)
        {
            cursor[device] = entry
            due[device] = min(due[device], entries[Int(entry)].end)
        }
    }

    // MARK: Entries

    mutating func allocate(start windowStart: Int64, end windowEnd: Int64) -> Int32 {
        let entry: Int32
        if let reused = freeEntries.popLast() {
            entry = reused
            entries[Int(entry)] = WindowEntry(start: windowStart, end: windowEnd)
            if isSession { sessionFlags[Int(entry)] = 0 }
            if isSliding { suffix[Int(entry) * suffixStride + stride + 1] = 0 }
        } else {
            entry = Int32(entries.count)
            entries.append(WindowEntry(start: windowStart, end: windowEnd))
            pendingSlot.append(-1)
            if isSession { sessionFlags.append(0) }
            accumulators.append(contentsOf: repeatElement(0, count: stride))
            sketches.append(contentsOf: repeatElement(PercentileSketch(), count: sketchCount))
            if isSliding {
                suffix.append(contentsOf: repeatElement(0, count: suffixStride))
            }
        }
        let layout = self.layout, offset = Int(entry) * stride
        accumulators.withUnsafeMutableBufferPointer { layout.reset($0.baseAddress! + offset) }
        return entry
    }

    /// Links `entry` between `before` and `after` (either may be -1) in the device's list.
    mutating func link(_ entry: Int32, device: Int, after before: Int32, before after: Int32) {
        entries[Int(entry)].prev = before
        entries[Int(entry)].next = after
        if before >= 0 { entries[Int(before)].next = entry } else { head[device] = entry }
        if after >= 0 { entries[Int(after)].prev = entry } else { tail[device] = entry }
        due[device] = min(due[device], entries[Int(entry)].end)
    }

    /// Unlinks `entry` and returns it to the pool.
    mutating func release(_ entry: Int32, device: Int) {
        let before = entries[Int(entry)].prev
        let after = entries[Int(entry)].next
        if before >= 0 { entries[Int(before)].next = after } else { head[device] = after }
        if after >= 0 { entries[Int(after)].prev = before } else { tail[device] = before }
        if cursor[device] == entry { cursor[device] = after }
        if !isSession && hotPane[device].entry == entry { hotPane[device].entry = -1 }
        if isSliding && sliding[device].prefixLast == entry { sliding[device].forgetPrefix() }
        forgetRevision(entry)
        let base = Int(entry) * sketchCount
        for k in 0 ..< sketchCount { sketches[base + k].reset() }
        freeEntries.append(entry)
    }

    /// Counts the reading into `entry` and marks it changed.
    mutating func add(_ reading: Reading, to entry: Int32) {
        let fields = reading.fields
        let time = Double(reading.time)
        let offset = Int(entry) * stride
        layout.fields.withUnsafeBufferPointer { plan in
            accumulators.withUnsafeMutableBufferPointer { buffer in
                AccumulatorLayout.add(fields, time: time, into: buffer.baseAddress! + offset, plan: plan)
            }
        }
        if sketchCount > 0 {
            let base = Int(entry) * sketchCount
            for f in layout.fields where f.sketch >= 0 {
                let x = f.field < fields.count ? fields[f.field] : .nan
                if !x.isNaN { sketches[base + f.sketch].add(x) }
            }
        }
        changes += 1
        entries[Int(entry)].updatedAt = changes
    }

    /// Merges entry `source` into entry `target` (session merges).
    mutating func merge(_ source: Int32, into target: Int32) {
        let layout = self.layout, stride = self.stride
        accumulators.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            layout.merge(base + Int(source) * stride, into: base + Int(target) * stride)
        }
        for k in 0 ..< sketchCount {
            let other = sketches[Int(source) * sketchCount + k]
            sketches[Int(target) * sketchCount + k].merge(other)
        }
    }

    // MARK: Emission

    /// Queues one result whose values are the finished aggregates of `accumulator`.
    mutating func queue(
        device: Int, start: Int64, end: Int64, revision: Int64, timing: ResultTiming,
        accumulator: UnsafePointer<Double>, sketches: UnsafePointer<PercentileSketch>?
    ) {
        let offset = output.values.count
        layout.finish(accumulator, sketches: sketches, into: &output.values)
        output.entries.append(
            .init(
                series: index, isRetraction: false, timing: timing, device: DeviceID(Int32(device)), start: start,
                end: end, revision: revision, offset: offset, count: output.values.count - offset))
    }

    mutating func queueRetraction(device: Int, start: Int64, end: Int64, revision: Int64, timing: ResultTiming) {
        let offset = output.values.count
        output.values.append(contentsOf: repeatElement(.nan, count: layout.outputs.count))
        output.entries.append(
            .init(
                series: index, isRetraction: true, timing: timing, device: DeviceID(Int32(device)), start: start,
                end: end, revision: revision, offset: offset, count: layout.outputs.count))
    }

    /// Queues the window held by `entry` if it changed since its last emission, at any time
    /// but its close (see ``timing(of:device:)``).
    mutating func emitIfChanged(_ entry: Int32, device: Int) {
        let timing = self.timing(of: entry, device: device)
        if isSession { emitSession(entry, device: device, timing: timing) } else { emitFixed(entry, device: device, timing: timing) }
    }

    /// The timing of an emission of `entry` made anywhere but in its close: late once the
    /// window has closed, early before. A fixed window has closed when it is before the
    /// device's first open window (the close loop is the only place that moves it past a
    /// window, and windows made behind it are made closed); a session once its
    /// ``SessionFlags/closed`` is set, which a late record reopening it does not clear.
    func timing(of entry: Int32, device: Int) -> ResultTiming {
        if isSession { return sessionFlags[Int(entry)] & SessionFlags.closed != 0 ? .late : .early }
        let open = cursor[device]
        return open < 0 || entries[Int(open)].start > entries[Int(entry)].start ? .late : .early
    }

    /// Closes every window of `device` that ends at or before `watermark`, then purges state
    /// that no late record can reach any more.
    mutating func close(device: Int, watermark: Int64) {
        if hasComparisons && !pending.isEmpty { emitExpiringRevisions(device: device, watermark: watermark) }
        var entry = cursor[device]
        if hasComparisons && entry >= 0 && entries[Int(entry)].end <= watermark { touchHistory(closing: entry, device: device) }
        while entry >= 0 && entries[Int(entry)].end <= watermark {
            // The result at close is on time, and emitted even if nothing changed since an early
            // one: that was provisional. A fixed window reaches this loop once; a session again
            // after a late record reopened it, and is late then.
            if isSliding {
                emitClosing(entry, device: device)
            } else if isSession {
                let closed = sessionFlags[Int(entry)] & SessionFlags.closed != 0
                sessionFlags[Int(entry)] |= SessionFlags.closed
                emitSession(entry, device: device, timing: closed ? .late : .onTime)
            } else {
                if hasComparisons {
                    // Before its emission: a window's comparisons never read itself, but the
                    // windows after it in this loop read it, and find every window before them
                    // in the history once the cursor has passed them.
                    mirror(entry, device: device)
                    cursor[device] = entries[Int(entry)].next
                }
                emitFixed(entry, device: device, timing: .onTime)
            }
            entry = entries[Int(entry)].next
        }
        cursor[device] = entry
        // A session can still be reached by a record up to one gap before its end (it would
        // merge), hence the extra gap; for fixed windows gap is 0.
        let reach = lateness + gap
        while head[device] >= 0 && entries[Int(head[device])].end + reach <= watermark {
            let first = head[device]
            // A revision not yet emitted is emitted now: no later batch end can reach it.
            if pendingSlot[Int(first)] >= 0 { emitIfChanged(first, device: device) }
            release(first, device: device)
        }
        if hasComparisons { expireHistory(device: device, watermark: watermark) }
        refreshDue(device: device)
    }

    /// Emits every open window of `device` that changed since its last emission (idle flush,
    /// periodic early results): early, but late for a session a late record reopened.
    /// Watermarks do not move.
    mutating func flushOpen(device: Int) {
        var entry = cursor[device]
        while entry >= 0 {
            emitIfChanged(entry, device: device)
            entry = entries[Int(entry)].next
        }
    }
}

/// One pane (fixed windows: also the window starting at it) or one session.
struct WindowEntry {
    /// Fixed windows: pane start (also the start of the window whose metadata the entry holds).
    /// Sessions: session start.
    var start: Int64
    /// Fixed windows: `start + size`; sessions: last event time + gap.
    var end: Int64
    /// Change counter at the entry's last update; a window is dirty when one of its panes
    /// changed after the window was last emitted.
    var updatedAt: UInt64 = 0
    /// Change counter at the window's last emission; 0: never emitted.
    var emittedAt: UInt64 = 0
    /// Late records applied to the window (sessions: see SessionWindows.swift); the revision of
    /// its emissions except with `emit: updates` (see ``SeriesState/revision(of:count:)``).
    var revision: Int64 = 0
    /// The device's list, sorted by start; -1 at either end.
    var next: Int32 = -1
    var prev: Int32 = -1

    init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }
}
