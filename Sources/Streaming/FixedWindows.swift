// Tumbling and hopping windows over panes. A pane is one slide wide; a record touches one
// pane, and a window of size/slide panes is combined only when it is emitted, so the cost
// per record does not grow with size/slide. Windows closing in order combine cached block
// suffixes and prefixes (see emitClosing), so neither does the cost per window.

/// `floor(a / b)` for b > 0.
@inline(__always)
func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    a >= 0 ? a / b : -((-a - 1) / b) - 1
}

extension SeriesState {
    /// Counts `reading` into its pane; false if every window containing it is past its lateness.
    mutating func addFixed(_ reading: Reading, device: Int, watermark: Int64) -> Bool {
        let paneStart = floorDivide(reading.time, slide) * slide
        // The latest window containing the record starts at its pane.
        if paneStart + size + lateness <= watermark { return false }
        // Windows starting before `alive` are purged: their end + lateness <= watermark.
        var alive = paneStart - (size - slide)
        let expired = watermark - size - lateness
        if expired >= alive { alive = (floorDivide(expired, slide) + 1) * slide }

        // Most records land in the same pane as the device's previous one: remembering it per
        // device spares reading the entry pool to find it.
        let entry: Int32
        let hot = hotPane[device]
        if hot.entry >= 0 && hot.start == paneStart {
            entry = hot.entry
        } else {
            entry = pane(startingAt: paneStart, device: device, alive: alive, watermark: watermark)
            hotPane[device] = HotPane(start: paneStart, entry: entry)
        }
        add(reading, to: entry)

        // The oldest window containing the record ends one slide after its pane starts; if
        // even that one is open, nothing here is a late update.
        let late = paneStart + slide <= watermark
        if emit == .updates || late {
            // A closed window's pane changed: partial merges cached for in-order closing may
            // include it.
            if isSliding && late { sliding[device].forget() }
            var first = entry
            while entries[Int(first)].prev >= 0 && entries[Int(entries[Int(first)].prev)].start >= alive { first = entries[Int(first)].prev }
            var window = first
            while true {
                if entries[Int(window)].end <= watermark {
                    entries[Int(window)].revision += 1
                    markRevised(window, device: device)
                } else if emit == .updates {
                    markRevised(window, device: device)
                }
                if window == entry { break }
                window = entries[Int(window)].next
            }
        }
        return true
    }

    /// The entry of the pane at `paneStart`, created if missing; on the pane's first record,
    /// also the entries of the still-alive windows that contain it (each window's revision
    /// lives in the entry of its first pane, so every window with data needs one).
    private mutating func pane(startingAt paneStart: Int64, device: Int, alive: Int64, watermark: Int64) -> Int32 {
        // Walk back from the newest entry: in-order data lands on the tail.
        var after: Int32 = -1
        var before = tail[device]
        while before >= 0 && entries[Int(before)].start > paneStart {
            after = before
            before = entries[Int(before)].prev
        }
        // A pane that already had data has its windows' entries.
        if before >= 0 && entries[Int(before)].start == paneStart && entries[Int(before)].updatedAt > 0 { return before }

        var target: Int32 = -1
        var windowStart = paneStart
        while windowStart >= alive {
            if before >= 0 && entries[Int(before)].start == windowStart {
                // An earlier pane with data had the entries of all windows containing it created,
                // which covers the rest of this walk. An entry without data (created for a later
                // pane) proves nothing, so keep walking.
                if windowStart < paneStart && entries[Int(before)].updatedAt > 0 { break }
                if target < 0 { target = before }
                after = before
                before = entries[Int(before)].prev
            } else {
                let entry = allocate(start: windowStart, end: windowStart + size)
                link(entry, device: device, after: before, before: after)
                // A new last entry starts after the device's first open window, if it has one:
                // then there is nothing to reopen, and that window's (cold) entry stays unread.
                if windowStart + size > watermark && (after >= 0 || cursor[device] < 0) {
                    reopen(entry, device: device, includingEqualStart: false)
                }
                if target < 0 { target = entry }
                after = entry
            }
            windowStart -= slide
            while before >= 0 && entries[Int(before)].start > windowStart {
                after = before
                before = entries[Int(before)].prev
            }
        }
        return target
    }

    /// Queues the window whose first pane is `entry` if any of its panes changed since it was
    /// last emitted, or, on time, if it has data.
    mutating func emitFixed(_ entry: Int32, device: Int, timing: ResultTiming) {
        let windowStart = entries[Int(entry)].start
        let windowEnd = entries[Int(entry)].end
        if size == slide {
            let updatedAt = entries[Int(entry)].updatedAt
            guard updatedAt > entries[Int(entry)].emittedAt || (timing == .onTime && updatedAt > 0) else { return }
            let revision = self.revision(of: entry, count: accumulators[Int(entry) * stride])
            accumulators.withUnsafeBufferPointer { accumulators in
                sketches.withUnsafeBufferPointer { sketches in
                    queue(
                        device: device, start: windowStart, end: windowEnd, revision: revision, timing: timing,
                        accumulator: accumulators.baseAddress! + Int(entry) * stride,
                        sketches: sketchCount > 0 ? sketches.baseAddress! + Int(entry) * sketchCount : nil)
                }
            }
            if hasComparisons { queueComparisons(of: entry, device: device) }
        } else {
            var latest: UInt64 = 0
            var pane = entry
            while pane >= 0 && entries[Int(pane)].start < windowEnd {
                latest = max(latest, entries[Int(pane)].updatedAt)
                pane = entries[Int(pane)].next
            }
            guard latest > entries[Int(entry)].emittedAt || (timing == .onTime && latest > 0) else { return }
            combinePanes(from: entry, before: windowEnd)
            let revision = self.revision(of: entry, count: scratch[0])
            queueScratch(device: device, start: windowStart, end: windowEnd, revision: revision, timing: timing)
        }
        entries[Int(entry)].emittedAt = changes
        forgetRevision(entry)
    }

    /// Queues the window merged into `scratch` (and `scratchSketches`).
    private mutating func queueScratch(device: Int, start: Int64, end: Int64, revision: Int64, timing: ResultTiming) {
        scratch.withUnsafeBufferPointer { scratch in
            scratchSketches.withUnsafeBufferPointer { sketches in
                queue(
                    device: device, start: start, end: end, revision: revision, timing: timing,
                    accumulator: scratch.baseAddress!, sketches: sketches.baseAddress)
            }
        }
    }

    /// Leaves the merge of the panes from `first` up to `windowEnd` in `scratch`.
    private mutating func combinePanes(from first: Int32, before windowEnd: Int64) {
        let layout = self.layout, stride = self.stride
        let entries = self.entries, accumulators = self.accumulators
        scratch.withUnsafeMutableBufferPointer { scratch in
            let target = scratch.baseAddress!
            layout.reset(target)
            accumulators.withUnsafeBufferPointer { accumulators in
                var pane = first
                while pane >= 0 && entries[Int(pane)].start < windowEnd {
                    layout.merge(accumulators.baseAddress! + Int(pane) * stride, into: target)
                    pane = entries[Int(pane)].next
                }
            }
        }
        if sketchCount > 0 { combineSketches(from: first, before: windowEnd) }
    }

    // MARK: In-order closing of hopping windows

    /// Queues the window whose first pane is `entry` as it closes (windows of a device close
    /// in order of start): on time, whether or not its panes changed since an early result.
    ///
    /// The window `[s, s + size)` is the suffix of the block `[b, b + size)` holding `s`
    /// (b = floor(s/size)·size) merged with the prefix `[b + size, s + size)` of the next block.
    /// Every pane it covers is complete (a later change is a late update, which forgets the
    /// cache), so suffixes computed for the first window of a block serve its later windows,
    /// and the next block's prefix grows by one pane per window.
    mutating func emitClosing(_ entry: Int32, device: Int) {
        let e = Int(entry)
        let windowStart = entries[e].start, windowEnd = entries[e].end
        let blockStart = floorDivide(windowStart, size) * size
        let blockEnd = blockStart + size  // <= windowEnd
        let stride = self.stride, suffixStride = self.suffixStride
        var cache = sliding[device]
        let hasPrefix = blockEnd < windowEnd
        layout.fields.withUnsafeBufferPointer { plan in
            if cache.suffixEpoch == 0 || cache.suffixBlock != blockStart
                || suffix[e * suffixStride + stride + 1].bitPattern != cache.suffixEpoch
            {
                cache.suffixEpoch = computeSuffixes(from: entry, before: blockEnd, plan: plan)
                cache.suffixBlock = blockStart
            }
            guard hasPrefix else { return }
            prefix.withUnsafeMutableBufferPointer { prefix in
                accumulators.withUnsafeBufferPointer { accumulators in
                    let target = prefix.baseAddress! + device * stride
                    if cache.prefixBlock != blockEnd || cache.prefixEnd > windowEnd {
                        cache.prefixBlock = blockEnd
                        cache.prefixEnd = blockEnd
                        cache.prefixLast = -1
                        cache.prefixLatest = 0
                        layout.reset(target)
                    }
                    var pane = cache.prefixLast >= 0 ? entries[Int(cache.prefixLast)].next : entry
                    while pane >= 0 && entries[Int(pane)].start < windowEnd {
                        if entries[Int(pane)].start >= blockEnd {
                            AccumulatorLayout.merge(accumulators.baseAddress! + Int(pane) * stride, into: target, plan: plan)
                            cache.prefixLatest = max(cache.prefixLatest, entries[Int(pane)].updatedAt)
                            cache.prefixLast = pane
                        }
                        pane = entries[Int(pane)].next
                    }
                    cache.prefixEnd = windowEnd
                }
            }
        }
        sliding[device] = cache
        let suffixLatest = suffix[e * suffixStride + stride].bitPattern
        let latest = hasPrefix ? max(suffixLatest, cache.prefixLatest) : suffixLatest
        guard latest > 0 else { return }

        layout.fields.withUnsafeBufferPointer { plan in
            scratch.withUnsafeMutableBufferPointer { scratch in
                let target = scratch.baseAddress!
                suffix.withUnsafeBufferPointer { suffix in
                    for k in 0 ..< stride { target[k] = suffix[e * suffixStride + k] }
                }
                if hasPrefix {
                    prefix.withUnsafeBufferPointer {
                        AccumulatorLayout.merge($0.baseAddress! + device * stride, into: target, plan: plan)
                    }
                }
            }
        }
        if sketchCount > 0 { combineSketches(from: entry, before: windowEnd) }
        let revision = self.revision(of: entry, count: scratch[0])
        queueScratch(device: device, start: windowStart, end: windowEnd, revision: revision, timing: .onTime)
        entries[e].emittedAt = changes
        forgetRevision(entry)
    }

    /// Computes the suffix of every pane from `first` to the end of its block (`blockEnd`),
    /// latest pane first, and returns the epoch that marks them.
    private mutating func computeSuffixes(
        from first: Int32, before blockEnd: Int64, plan: UnsafeBufferPointer<FieldAccumulator>
    ) -> UInt64 {
        slidingEpoch += 1
        let epoch = slidingEpoch
        var last = first
        while entries[Int(last)].next >= 0 && entries[Int(entries[Int(last)].next)].start < blockEnd { last = entries[Int(last)].next }
        let stride = self.stride, suffixStride = self.suffixStride
        suffix.withUnsafeMutableBufferPointer { suffix in
            accumulators.withUnsafeBufferPointer { accumulators in
                let suffixes = suffix.baseAddress!, panes = accumulators.baseAddress!
                var pane = last
                var later: Int32 = -1
                while true {
                    let p = Int(pane)
                    let run = suffixes + p * suffixStride
                    for k in 0 ..< stride { run[k] = panes[p * stride + k] }
                    var latest = entries[p].updatedAt
                    if later >= 0 {
                        let laterRun = suffixes + Int(later) * suffixStride
                        AccumulatorLayout.merge(laterRun, into: run, plan: plan)
                        latest = max(latest, laterRun[stride].bitPattern)
                    }
                    run[stride] = Double(bitPattern: latest)
                    run[stride + 1] = Double(bitPattern: epoch)
                    if pane == first { break }
                    later = pane
                    pane = entries[p].prev
                }
            }
        }
        return epoch
    }

    /// Leaves the merge of the panes' sketches from `first` up to `windowEnd` in `scratchSketches`.
    private mutating func combineSketches(from first: Int32, before windowEnd: Int64) {
        for k in 0 ..< sketchCount { scratchSketches[k].reset() }
        var pane = first
        while pane >= 0 && entries[Int(pane)].start < windowEnd {
            for k in 0 ..< sketchCount { scratchSketches[k].merge(sketches[Int(pane) * sketchCount + k]) }
            pane = entries[Int(pane)].next
        }
    }
}

/// Per device (fixed windows), the pane the device's last record landed in.
struct HotPane {
    var start: Int64 = 0
    /// The pane's entry (it has data), or -1.
    var entry: Int32 = -1
    /// Series with comparisons: whether the entry is the device's newest, nil until asked.
    /// Entries after it are only made through another pane, which then becomes the hot one,
    /// so the answer holds while the pane is hot.
    var isNewest: Bool? = nil
}

/// Per device, which cached partial merges of a hopping series are current.
struct SlidingPanes {
    /// The epoch of the suffixes computed for the block starting at `suffixBlock`; 0: none.
    var suffixEpoch: UInt64 = 0
    var suffixBlock: Int64 = 0
    /// The device's prefix merges the panes starting in `[prefixBlock, prefixEnd)`;
    /// `prefixBlock == Int64.min`: no prefix.
    var prefixBlock: Int64 = .min
    var prefixEnd: Int64 = .min
    /// The last entry merged into the prefix, or -1.
    var prefixLast: Int32 = -1
    /// The latest change among the prefix's panes.
    var prefixLatest: UInt64 = 0

    mutating func forget() {
        suffixEpoch = 0
        forgetPrefix()
    }

    mutating func forgetPrefix() {
        prefixBlock = .min
        prefixLast = -1
    }
}
