// Tumbling and hopping windows over panes. A pane is one slide wide; a record touches one
// pane, and a window of size/slide panes is combined only when it is emitted, so the cost
// per record does not grow with size/slide.

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

        let entry = pane(startingAt: paneStart, device: device, alive: alive, watermark: watermark)
        add(reading, to: entry)

        // The oldest window containing the record ends one slide after its pane starts; if
        // even that one is open, nothing here is a late update.
        if emit == .updates || paneStart + slide <= watermark {
            var first = entry
            while prev[Int(first)] >= 0 && start[Int(prev[Int(first)])] >= alive { first = prev[Int(first)] }
            var window = first
            while true {
                if emit == .updates || end[Int(window)] <= watermark { emitFixed(window, device: device) }
                if window == entry { break }
                window = next[Int(window)]
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
        while before >= 0 && start[Int(before)] > paneStart {
            after = before
            before = prev[Int(before)]
        }
        // A pane that already had data has its windows' entries.
        if before >= 0 && start[Int(before)] == paneStart && updatedAt[Int(before)] > 0 { return before }

        var target: Int32 = -1
        var windowStart = paneStart
        while windowStart >= alive {
            if before >= 0 && start[Int(before)] == windowStart {
                // An earlier pane with data had the entries of all windows containing it created,
                // which covers the rest of this walk. An entry without data (created for a later
                // pane) proves nothing, so keep walking.
                if windowStart < paneStart && updatedAt[Int(before)] > 0 { break }
                if target < 0 { target = before }
                after = before
                before = prev[Int(before)]
            } else {
                let entry = allocate(start: windowStart, end: windowStart + size)
                link(entry, device: device, after: before, before: after)
                if windowStart + size > watermark {
                    let open = cursor[device]
                    if open < 0 || start[Int(open)] > windowStart { cursor[device] = entry }
                }
                if target < 0 { target = entry }
                after = entry
            }
            windowStart -= slide
            while before >= 0 && start[Int(before)] > windowStart {
                after = before
                before = prev[Int(before)]
            }
        }
        return target
    }

    /// Queues the window whose first pane is `entry` if any of its panes changed since it was
    /// last emitted.
    mutating func emitFixed(_ entry: Int32, device: Int) {
        let windowStart = start[Int(entry)]
        let windowEnd = end[Int(entry)]
        if size == slide {
            guard updatedAt[Int(entry)] > emittedAt[Int(entry)] else { return }
            accumulators.withUnsafeBufferPointer { accumulators in
                sketches.withUnsafeBufferPointer { sketches in
                    queue(
                        device: device, start: windowStart, end: windowEnd, revision: revision[Int(entry)],
                        accumulator: accumulators.baseAddress! + Int(entry) * stride,
                        sketches: sketchCount > 0 ? sketches.baseAddress! + Int(entry) * sketchCount : nil)
                }
            }
        } else {
            var latest: UInt64 = 0
            var pane = entry
            while pane >= 0 && start[Int(pane)] < windowEnd {
                latest = max(latest, updatedAt[Int(pane)])
                pane = next[Int(pane)]
            }
            guard latest > emittedAt[Int(entry)] else { return }
            combinePanes(from: entry, before: windowEnd)
            scratch.withUnsafeBufferPointer { scratch in
                scratchSketches.withUnsafeBufferPointer { sketches in
                    queue(
                        device: device, start: windowStart, end: windowEnd, revision: revision[Int(entry)],
                        accumulator: scratch.baseAddress!, sketches: sketches.baseAddress)
                }
            }
        }
        revision[Int(entry)] += 1
        emittedAt[Int(entry)] = changes
    }

    /// Leaves the merge of the panes from `first` up to `windowEnd` in `scratch`.
    private mutating func combinePanes(from first: Int32, before windowEnd: Int64) {
        let layout = self.layout, stride = self.stride
        let start = self.start, next = self.next, accumulators = self.accumulators
        scratch.withUnsafeMutableBufferPointer { scratch in
            let target = scratch.baseAddress!
            layout.reset(target)
            accumulators.withUnsafeBufferPointer { accumulators in
                var pane = first
                while pane >= 0 && start[Int(pane)] < windowEnd {
                    layout.merge(accumulators.baseAddress! + Int(pane) * stride, into: target)
                    pane = next[Int(pane)]
                }
            }
        }
        if sketchCount > 0 {
            for k in 0 ..< sketchCount { scratchSketches[k].reset() }
            var pane = first
            while pane >= 0 && start[Int(pane)] < windowEnd {
                for k in 0 ..< sketchCount { scratchSketches[k].merge(sketches[Int(pane) * sketchCount + k]) }
                pane = next[Int(pane)]
            }
        }
    }
}
