// Session windows: per device, records closer than the gap share a window [first, last + gap).
// A late record can extend a session backwards or bridge two sessions; see `addSession`.

extension SeriesState {
    /// Counts `reading` into its session; false if even a fresh session `[t, t + gap)` would be
    /// past its lateness.
    ///
    /// Merging is deterministic: the merged session keeps the earlier session's entry, starts
    /// at the earliest record, and its next revision is above both parts' revisions. A part
    /// that was already emitted under a start that no longer exists gets a retraction
    /// (``WindowResult/isRetraction``) at its own next revision, so downstream can drop it.
    mutating func addSession(_ reading: Reading, device: Int, watermark: Int64) -> Bool {
        let t = reading.time
        if t + gap + lateness <= watermark { return false }
        var after: Int32 = -1
        var before = tail[device]
        while before >= 0 && start[Int(before)] > t {
            after = before
            before = prev[Int(before)]
        }
        let joinsBefore = before >= 0 && t < end[Int(before)]
        let joinsAfter = after >= 0 && t + gap > start[Int(after)]

        let entry: Int32
        switch (joinsBefore, joinsAfter) {
        case (false, false):
            entry = allocate(start: t, end: t + gap)
            link(entry, device: device, after: before, before: after)
        case (true, false):
            entry = before
            end[Int(entry)] = max(end[Int(entry)], t + gap)
        case (false, true):
            entry = after
            start[Int(entry)] = t
        case (true, true):
            entry = before
            merge(after, into: entry)
            end[Int(entry)] = max(end[Int(entry)], end[Int(after)])
            if emittedAt[Int(after)] > 0 {
                queueRetraction(
                    device: device, start: emittedStart[Int(after)], end: emittedEnd[Int(after)],
                    revision: revision[Int(after)])
                revision[Int(after)] += 1
            }
            revision[Int(entry)] = max(revision[Int(entry)], revision[Int(after)])
            updatedAt[Int(entry)] = max(updatedAt[Int(entry)], updatedAt[Int(after)])
            if cursor[device] == after { cursor[device] = entry }
            release(after, device: device)
        }
        add(reading, to: entry)

        // A late record can reopen a closed session by pushing its end past the watermark.
        if end[Int(entry)] > watermark { reopen(entry, device: device, includingEqualStart: true) }
        if end[Int(entry)] <= watermark || emit == .updates { emitSession(entry, device: device) }
        return true
    }

    /// Queues the session if it changed since its last emission, retracting its previous key
    /// first when a merge moved its start.
    mutating func emitSession(_ entry: Int32, device: Int) {
        let e = Int(entry)
        guard updatedAt[e] > emittedAt[e] else { return }
        if emittedAt[e] > 0 && emittedStart[e] != start[e] {
            queueRetraction(device: device, start: emittedStart[e], end: emittedEnd[e], revision: revision[e])
            revision[e] += 1
        }
        accumulators.withUnsafeBufferPointer { accumulators in
            sketches.withUnsafeBufferPointer { sketches in
                queue(
                    device: device, start: start[e], end: end[e], revision: revision[e],
                    accumulator: accumulators.baseAddress! + e * stride,
                    sketches: sketchCount > 0 ? sketches.baseAddress! + e * sketchCount : nil)
            }
        }
        revision[e] += 1
        emittedStart[e] = start[e]
        emittedEnd[e] = end[e]
        emittedAt[e] = changes
    }
}
