// Comparisons of a tumbling series' windows with the same device's earlier windows: keeping
// the history they read (exact copies of closed windows), reading it at emission, and which
// emitted windows a change to an earlier window revises.

/// How far back one comparison reads, in windows.
struct ComparisonReach {
    /// The offset, or the span (every window from 1 to `windows` back).
    var windows: Int64
    /// Whether the windows of the span are merged (`over`) rather than one read (`offset`).
    var merges: Bool
    /// `windows` modulo the history's capacity: how far back in the device's ring it reads.
    var ringLag: Int = 0
}

extension SeriesState {
    /// Whether a window reads the window `lag` windows before it.
    @inline(__always)
    func reads(lag: Int64) -> Bool {
        lag <= mergedLags || offsetLags.contains(lag)
    }

    // MARK: Revising readers

    /// `reading` was just counted into the device's hot pane (``addFixed(_:device:watermark:)``):
    /// a closed window's copy in the history follows it, and the windows whose comparisons
    /// read it have changed. Called by the engine after `addFixed` rather than from it: in its
    /// body, these lines cost every record of a series without comparisons 4%.
    @inline(__always)
    mutating func comparisonsFollow(_ reading: Reading, device: Int, watermark: Int64) {
        // Most records land in the newest window, still open: nothing to follow.
        let hot = hotPane[device]
        if hot.isNewest == true && hot.start + size > watermark { return }
        followChange(reading, device: device, watermark: watermark)
    }

    @inline(never)
    private mutating func followChange(_ reading: Reading, device: Int, watermark: Int64) {
        let hot = hotPane[device]
        let entry = hot.entry
        guard entry >= 0 else { return }
        // The window has closed (the pane is the window: tumbling); from the hot pane alone,
        // since the entry is often not in the cache any more.
        if hot.start + size <= watermark {
            // With `emit: updates` the count gives the revision: the counter `addFixed` raised
            // for this late record is kept for the comparisons' changes alone.
            if emit == .updates { entries[Int(entry)].revision -= 1 }
            updateMirror(of: entry, with: reading, device: device)
        }
        // In-order data lands in the newest window, which no comparison reads yet; asked once
        // per hot pane, since the entry's link is often on a cache line of its own.
        let newest: Bool
        if let known = hot.isNewest {
            newest = known
        } else {
            newest = entries[Int(entry)].next < 0
            hotPane[device].isNewest = newest
        }
        if !newest { reviseReaders(of: entry, device: device, watermark: watermark) }
    }

    /// A record was applied to `entry`, which is not the device's newest window: every later
    /// window whose comparisons read it has changed.
    ///
    /// A reader that has closed (its close was emitted, or is due) takes a revision and is
    /// emitted when the batch ends, as a late record of its own would make it; with
    /// `emit: updates`, so does an open one. An open reader already emitted early is only
    /// marked changed: its next early result must not be skipped as unchanged (its result at
    /// close is emitted anyway).
    /// Readers always end after `entry`, so while `entry` takes records they are within their
    /// lateness and in the device's list.
    mutating func reviseReaders(of entry: Int32, device: Int, watermark: Int64) {
        let start = entries[Int(entry)].start
        var reader = entries[Int(entry)].next
        while reader >= 0 {
            let r = Int(reader)
            let lag = (entries[r].start - start) / size
            if lag > longestLag { break }
            if reads(lag: lag) {
                if emit == .updates || entries[r].end <= watermark {
                    entries[r].revision += 1
                    changes += 1
                    entries[r].updatedAt = changes
                    markRevised(reader, device: device)
                } else if entries[r].emittedAt > 0 {
                    changes += 1
                    entries[r].updatedAt = changes
                }
            }
            reader = entries[r].next
        }
    }

    // MARK: History

    /// Copies the closed window `entry` into the device's history (exactly: accumulator and
    /// sketches), where comparisons read it, now and after its entry is released.
    mutating func mirror(_ entry: Int32, device: Int) {
        let e = Int(entry)
        let slot = history.claim(device: device, window: floorDivide(entries[e].start, size))
        guard slot >= 0 else { return }
        let stride = self.stride, sketchCount = self.sketchCount
        for k in 0 ..< stride { history.values[slot * stride + k] = accumulators[e * stride + k] }
        for k in 0 ..< sketchCount { history.sketches[slot * sketchCount + k].assign(sketches[e * sketchCount + k]) }
    }

    /// `reading` was just counted into the closed window `entry`: counts it into the window's
    /// copy too (the same operations, so the copy stays exact), or makes the copy if the window
    /// has none yet (it was made by this record, or has not been through a close).
    mutating func updateMirror(of entry: Int32, with reading: Reading, device: Int) {
        let slot = history.slot(device: device, window: floorDivide(entries[Int(entry)].start, size))
        guard slot >= 0 else { return mirror(entry, device: device) }
        let fields = reading.fields, time = Double(reading.time), offset = slot * stride
        layout.fields.withUnsafeBufferPointer { plan in
            history.values.withUnsafeMutableBufferPointer { values in
                AccumulatorLayout.add(fields, time: time, into: values.baseAddress! + offset, plan: plan)
            }
        }
        guard sketchCount > 0 else { return }
        for f in layout.fields where f.sketch >= 0 {
            let x = f.field < fields.count ? fields[f.field] : .nan
            if !x.isNaN { history.sketches[slot * sketchCount + f.sketch].add(x) }
        }
    }

    /// The watermark at which no window that can still be emitted reads the device's history.
    func historyExpiry(device: Int) -> Int64 {
        guard history.first[device] >= 0 else { return .max }
        return history.end[device] * size + longestLag * size + lateness
    }

    /// Drops the device's history once every window in it is out of every reader's reach:
    /// windows that can still be emitted end after `watermark - lateness`, and read back at
    /// most ``longestLag`` windows.
    mutating func expireHistory(device: Int, watermark: Int64) {
        if historyExpiry(device: device) <= watermark { history.release(device: device) }
    }

    /// Reads a number from every history slot the close of `entry` writes (its copy) or reads
    /// (its comparisons) before the close uses any. The history is far larger than the caches,
    /// so each slot can be a miss; asked for together the misses overlap, where the close
    /// itself, with a few hundred instructions between one slot and the next, waited for each
    /// in turn (bench history, 10,000 devices, a reading a minute: 1.44x -> 1.26x the cost
    /// per record without comparisons). A prefetch as the device's next window starts, shortly
    /// before, measured no better.
    mutating func touchHistory(closing entry: Int32, device: Int) {
        let base = history.first[device]
        guard base >= 0 else { return }
        let capacity = history.capacity, stride = self.stride, lanes = WindowHistory.lanes
        let ring = history.ring(floorDivide(entries[Int(entry)].start, size))
        var sum = 0.0
        history.values.withUnsafeBufferPointer { values in
            // A slot's first and last numbers: a slot can straddle two cache lines.
            func touch(_ slot: Int) { sum += values[slot * stride] + values[slot * stride + stride - 1] }
            touch(base + ring * lanes)
            for comparison in comparisons {
                var index = ring - comparison.ringLag
                if index < 0 { index += capacity }
                for _ in 0 ..< (comparison.merges ? comparison.windows : 1) {
                    touch(base + index * lanes)
                    index += 1
                    if index == capacity { index = 0 }
                }
            }
        }
        historyTouch = sum
    }

    // MARK: Emission

    /// Emits the pending revisions of the windows `watermark` puts past their lateness before
    /// the windows it closes enter the history: a watermark that jumps far would make those
    /// take the slots of the windows the revisions read.
    mutating func emitExpiringRevisions(device: Int, watermark: Int64) {
        var entry = head[device]
        while entry >= 0 && entries[Int(entry)].end + lateness <= watermark {
            if pendingSlot[Int(entry)] >= 0 { emitIfChanged(entry, device: device) }
            entry = entries[Int(entry)].next
        }
    }

    /// Appends the comparisons of the window whose entry is `entry` to the result just queued
    /// (see ``WindowResult/comparisons``).
    ///
    /// Every window before the device's first open one that has data is in the history (it
    /// closed, or was made closed), so a window emitted as it closes, or revised after, reads
    /// only there: a slot, or a few adjacent ones. An open window (an early result) may read
    /// windows still open too, so it also looks in the device's list.
    mutating func queueComparisons(of entry: Int32, device: Int) {
        let start = entries[Int(entry)].start
        let window = floorDivide(start, size)
        let open = cursor[device]
        let settled = open < 0 || entries[Int(open)].start > start
        if !settled { collectLive(before: entry, device: device) }
        // The history's slots: window w is at `base + ((ring + w - window) mod capacity) * lanes`.
        let base = history.first[device], capacity = history.capacity, lanes = WindowHistory.lanes
        let ring = base >= 0 ? history.ring(window) : 0
        let kept = base >= 0 ? history.end[device] - Int64(capacity) ..< history.end[device] : 0 ..< 0
        let width = layout.outputs.count + 1, stride = self.stride, sketchCount = self.sketchCount
        let queued = output.values.count
        output.values.append(contentsOf: repeatElement(.nan, count: comparisons.count * width))
        for c in comparisons.indices {
            let comparison = comparisons[c]
            var index = ring - comparison.ringLag
            if index < 0 { index += capacity }
            let first = window - comparison.windows
            let offset = queued + c * width
            if comparison.merges {
                mergeSpan(first ..< window, ring: index, base: base, kept: kept, settled: settled)
                scratch.withUnsafeBufferPointer { scratch in
                    scratchSketches.withUnsafeBufferPointer { sketches in
                        finishComparison(scratch.baseAddress!, sketches: sketches.baseAddress, at: offset)
                    }
                }
            } else if kept.contains(first) && history.values[(base + index * lanes) * stride] > 0 {
                let slot = base + index * lanes
                history.values.withUnsafeBufferPointer { values in
                    history.sketches.withUnsafeBufferPointer { sketches in
                        finishComparison(
                            values.baseAddress! + slot * stride,
                            sketches: sketchCount > 0 ? sketches.baseAddress! + slot * sketchCount : nil, at: offset)
                    }
                }
            } else if !settled, let live = liveScratch.first(where: { floorDivide(entries[Int($0)].start, size) == first }) {
                accumulators.withUnsafeBufferPointer { accumulators in
                    sketches.withUnsafeBufferPointer { sketches in
                        finishComparison(
                            accumulators.baseAddress! + Int(live) * stride,
                            sketches: sketchCount > 0 ? sketches.baseAddress! + Int(live) * sketchCount : nil, at: offset)
                    }
                }
            } else {
                output.values[offset] = 0
            }
        }
        output.entries[output.entries.count - 1].comparisonCount = output.values.count - queued
    }

    /// Writes at `offset` in the output the record count, then the aggregates of `accumulator`
    /// (left null when it holds none).
    private func finishComparison(_ accumulator: UnsafePointer<Double>, sketches: UnsafePointer<PercentileSketch>?, at offset: Int) {
        let count = accumulator[0]
        output.values.withUnsafeMutableBufferPointer { out in
            out[offset] = count
            if count > 0 { layout.finish(accumulator, sketches: sketches, to: out.baseAddress! + offset + 1) }
        }
    }

    /// Leaves in ``liveScratch`` the device's entries before `reader` within the longest reach,
    /// oldest first.
    private mutating func collectLive(before reader: Int32, device: Int) {
        liveScratch.removeAll(keepingCapacity: true)
        let earliest = entries[Int(reader)].start - longestLag * size
        var e = entries[Int(reader)].prev
        while e >= 0 && entries[Int(e)].start >= earliest {
            liveScratch.append(e)
            e = entries[Int(e)].prev
        }
        liveScratch.reverse()
    }

    /// Leaves in `scratch` (and `scratchSketches`) the merge of the device's windows `windows`,
    /// oldest first, so the merge is the same wherever each window is read from; `ring` is the
    /// first window's place in the device's ring, whose place 0 is slot `base`, `kept` the windows the ring holds.
    /// Unless `settled`, windows the history lacks are looked for among ``liveScratch``.
    private mutating func mergeSpan(_ windows: Range<Int64>, ring: Int, base: Int, kept: Range<Int64>, settled: Bool) {
        let stride = self.stride, sketchCount = self.sketchCount, size = self.size, capacity = history.capacity
        let lanes = WindowHistory.lanes
        var live = 0
        /// The entry of `window` among ``liveScratch``, or -1.
        func liveEntry(_ window: Int64) -> Int {
            while live < liveScratch.count && floorDivide(entries[Int(liveScratch[live])].start, size) < window { live += 1 }
            guard live < liveScratch.count, floorDivide(entries[Int(liveScratch[live])].start, size) == window else { return -1 }
            return Int(liveScratch[live])
        }
        scratch.withUnsafeMutableBufferPointer { scratch in
            let target = scratch.baseAddress!
            layout.reset(target)
            layout.fields.withUnsafeBufferPointer { plan in
                history.values.withUnsafeBufferPointer { values in
                    var index = ring
                    if settled {
                        // Only the history: the windows it holds, a run of slots.
                        let lower = max(windows.lowerBound, kept.lowerBound), upper = min(windows.upperBound, kept.upperBound)
                        guard lower < upper else { return }
                        index += Int(lower - windows.lowerBound)
                        if index >= capacity { index -= capacity }
                        // Two running merges, of alternate windows, joined at the end: a merge
                        // of a double-double sum waits for the one before it, and two such
                        // chains run side by side.
                        spanScratch.withUnsafeMutableBufferPointer { second in
                            let other = second.baseAddress!
                            layout.reset(other)
                            var alternate = false
                            for _ in lower ..< upper {
                                let slot = base + index * lanes
                                if values[slot * stride] > 0 {
                                    AccumulatorLayout.merge(values.baseAddress! + slot * stride, into: alternate ? other : target, plan: plan)
                                }
                                alternate.toggle()
                                index += 1
                                if index == capacity { index = 0 }
                            }
                            if other[0] > 0 { AccumulatorLayout.merge(other, into: target, plan: plan) }
                        }
                        return
                    }
                    for window in windows {
                        let slot = base + index * lanes
                        index += 1
                        if index == capacity { index = 0 }
                        if kept.contains(window) && values[slot * stride] > 0 {
                            AccumulatorLayout.merge(values.baseAddress! + slot * stride, into: target, plan: plan)
                        } else if !settled {
                            let e = liveEntry(window)
                            if e >= 0 {
                                accumulators.withUnsafeBufferPointer {
                                    AccumulatorLayout.merge($0.baseAddress! + e * stride, into: target, plan: plan)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard sketchCount > 0 else { return }
        for k in 0 ..< sketchCount { scratchSketches[k].reset() }
        live = 0
        var index = ring
        for window in windows {
            let slot = base + index * lanes
            index += 1
            if index == capacity { index = 0 }
            if kept.contains(window) && history.values[slot * stride] > 0 {
                for k in 0 ..< sketchCount { scratchSketches[k].merge(history.sketches[slot * sketchCount + k]) }
            } else if !settled {
                let e = liveEntry(window)
                if e >= 0 {
                    for k in 0 ..< sketchCount { scratchSketches[k].merge(sketches[e * sketchCount + k]) }
                }
            }
        }
    }
}
