// Comparisons of a tumbling series' windows with the same device's earlier windows: what a
// result reads (live windows, or the history of windows past their lateness), and which
// emitted windows a change to an earlier window revises.

/// How far back one comparison reads, in windows.
struct ComparisonReach {
    /// The offset, or the span (every window from 1 to `windows` back).
    var windows: Int64
    /// Whether the windows of the span are merged (`over`) rather than one read (`offset`).
    var merges: Bool
}

extension SeriesState {
    /// Whether a window reads the window `lag` windows before it.
    @inline(__always)
    func reads(lag: Int64) -> Bool {
        lag <= mergedLags || offsetLags.contains(lag)
    }

    // MARK: Revising readers

    /// A record was applied to `entry`, which is not the device's newest window: every later
    /// window whose comparisons read it has changed.
    ///
    /// A reader that has closed (its close was emitted, or is due) takes a revision and is
    /// emitted when the batch ends, as a late record of its own would make it; with
    /// `emit: updates`, so does an open one. An open reader already emitted early is only
    /// marked changed: its result at close (or next period) must not be skipped as unchanged.
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

    /// Keeps the aggregates of `entry`, past its lateness and about to be released, for the
    /// comparisons of later windows. Even a window out of reach of every window that can still
    /// be emitted is kept until the purge ends: a later window purged with it may have a
    /// revision to emit first. The entry's sketches move to the history (the entry's are reset
    /// on release anyway).
    mutating func archive(_ entry: Int32, device: Int) {
        let e = Int(entry)
        let slot = history.claim(device: device, window: floorDivide(entries[e].start, size))
        let stride = self.stride
        for k in 0 ..< stride { history.values[slot * stride + k] = accumulators[e * stride + k] }
        for k in 0 ..< sketchCount {
            swap(&history.sketches[slot * sketchCount + k], &sketches[e * sketchCount + k])
        }
    }

    /// The watermark at which no window that can still be emitted reads the device's history.
    func historyExpiry(device: Int) -> Int64 {
        guard history.block[device] >= 0 else { return .max }
        return history.end[device] * size + longestLag * size + lateness
    }

    /// Drops the device's history once every window in it is out of every reader's reach:
    /// windows that can still be emitted end after `watermark - lateness`, and read back at
    /// most ``longestLag`` windows.
    mutating func expireHistory(device: Int, watermark: Int64) {
        if historyExpiry(device: device) <= watermark { history.release(device: device) }
    }

    // MARK: Emission

    /// Appends the comparisons of the window whose entry is `entry` to the result just queued
    /// (see ``WindowResult/comparisons``).
    mutating func queueComparisons(of entry: Int32, device: Int) {
        let queued = output.values.count
        let start = entries[Int(entry)].start
        for comparison in comparisons {
            if comparison.merges {
                mergeSpan(before: entry, windows: comparison.windows, device: device)
                scratch.withUnsafeBufferPointer { scratch in
                    scratchSketches.withUnsafeBufferPointer { sketches in
                        appendComparison(scratch.baseAddress!, sketches: sketches.baseAddress)
                    }
                }
                continue
            }
            let target = start - comparison.windows * size
            let live = liveEntry(startingAt: target, before: entry, device: device)
            if live >= 0 {
                accumulators.withUnsafeBufferPointer { accumulators in
                    sketches.withUnsafeBufferPointer { sketches in
                        appendComparison(
                            accumulators.baseAddress! + Int(live) * stride,
                            sketches: sketchCount > 0 ? sketches.baseAddress! + Int(live) * sketchCount : nil)
                    }
                }
                continue
            }
            let slot = history.slot(device: device, window: floorDivide(target, size))
            if slot >= 0 {
                history.values.withUnsafeBufferPointer { values in
                    history.sketches.withUnsafeBufferPointer { sketches in
                        appendComparison(
                            values.baseAddress! + slot * stride,
                            sketches: sketchCount > 0 ? sketches.baseAddress! + slot * sketchCount : nil)
                    }
                }
            } else {
                output.values.append(0)
                output.values.append(contentsOf: repeatElement(.nan, count: layout.outputs.count))
            }
        }
        output.entries[output.entries.count - 1].comparisonCount = output.values.count - queued
    }

    /// The record count, then the aggregates of `accumulator` (all null when it holds none).
    private func appendComparison(_ accumulator: UnsafePointer<Double>, sketches: UnsafePointer<PercentileSketch>?) {
        let count = accumulator[0]
        output.values.append(count)
        if count > 0 {
            layout.finish(accumulator, sketches: sketches, into: &output.values)
        } else {
            output.values.append(contentsOf: repeatElement(.nan, count: layout.outputs.count))
        }
    }

    /// The device's live entry of the window starting at `start`, an earlier one than
    /// `reader`'s, or -1. Live entries all start after the history's windows.
    private func liveEntry(startingAt start: Int64, before reader: Int32, device: Int) -> Int32 {
        let first = head[device]
        guard first >= 0, entries[Int(first)].start <= start else { return -1 }
        var e = entries[Int(reader)].prev
        while e >= 0 && entries[Int(e)].start > start { e = entries[Int(e)].prev }
        return e >= 0 && entries[Int(e)].start == start ? e : -1
    }

    /// Leaves in `scratch` (and `scratchSketches`) the merge of the device's windows in the
    /// `windows` windows before `reader`'s, oldest first, so the merge is the same whichever of
    /// them are still live.
    private mutating func mergeSpan(before reader: Int32, windows: Int64, device: Int) {
        let layout = self.layout, stride = self.stride, sketchCount = self.sketchCount
        let history = self.history, entries = self.entries, accumulators = self.accumulators
        let spanStart = entries[Int(reader)].start - windows * size
        var oldestLive: Int32 = -1
        var e = entries[Int(reader)].prev
        while e >= 0 && entries[Int(e)].start >= spanStart {
            oldestLive = e
            e = entries[Int(e)].prev
        }
        // The history's windows of the span: they all start before the live ones.
        var historyWindows: Range<Int64> = 0 ..< 0
        if history.block[device] >= 0 {
            let first = head[device]
            let liveStart = first >= 0 ? entries[Int(first)].start : entries[Int(reader)].start
            let lower = max(floorDivide(spanStart, size), history.end[device] - Int64(history.capacity))
            let upper = min(history.end[device], floorDivide(liveStart, size))
            if lower < upper { historyWindows = lower ..< upper }
        }
        scratch.withUnsafeMutableBufferPointer { scratch in
            let target = scratch.baseAddress!
            layout.reset(target)
            layout.fields.withUnsafeBufferPointer { plan in
                history.values.withUnsafeBufferPointer { values in
                    for window in historyWindows {
                        let slot = history.slot(device: device, window: window)
                        if slot >= 0 { AccumulatorLayout.merge(values.baseAddress! + slot * stride, into: target, plan: plan) }
                    }
                }
                accumulators.withUnsafeBufferPointer { accumulators in
                    var live = oldestLive
                    while live >= 0 && live != reader {
                        AccumulatorLayout.merge(accumulators.baseAddress! + Int(live) * stride, into: target, plan: plan)
                        live = entries[Int(live)].next
                    }
                }
            }
        }
        guard sketchCount > 0 else { return }
        for k in 0 ..< sketchCount { scratchSketches[k].reset() }
        for window in historyWindows {
            let slot = history.slot(device: device, window: window)
            guard slot >= 0 else { continue }
            for k in 0 ..< sketchCount { scratchSketches[k].merge(history.sketches[slot * sketchCount + k]) }
        }
        var live = oldestLive
        while live >= 0 && live != reader {
            for k in 0 ..< sketchCount { scratchSketches[k].merge(sketches[Int(live) * sketchCount + k]) }
            live = entries[Int(live)].next
        }
    }
}
