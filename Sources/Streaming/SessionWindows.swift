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
        while before >= 0 && entries[Int(before)].start > t {
            after = before
            before = entries[Int(before)].prev
        }
        let joinsBefore = before >= 0 && t < entries[Int(before)].end
        let joinsAfter = after >= 0 && t + gap > entries[Int(after)].start

        let entry: Int32
        switch (joinsBefore, joinsAfter) {
        case (false, false):
            entry = allocate(start: t, end: t + gap)
            link(entry, device: device, after: before, before: after)
        case (true, false):
            entry = before
            entries[Int(entry)].end = max(entries[Int(entry)].end, t + gap)
        case (false, true):
            entry = after
            entries[Int(entry)].start = t
        case (true, true):
            entry = before
            merge(after, into: entry)
            entries[Int(entry)].end = max(entries[Int(entry)].end, entries[Int(after)].end)
            if entries[Int(after)].emittedAt > 0 {
                queueRetraction(
                    device: device, start: emittedStart[Int(after)], end: emittedEnd[Int(after)],
                    revision: entries[Int(after)].revision)
                entries[Int(after)].revision += 1
            }
            entries[Int(entry)].revision = max(entries[Int(entry)].revision, entries[Int(after)].revision)
            entries[Int(entry)].updatedAt = max(entries[Int(entry)].updatedAt, entries[Int(after)].updatedAt)
            if cursor[device] == after { cursor[device] = entry }
            release(after, device: device)
        }
        add(reading, to: entry)

        // A late record can reopen a closed session by pushing its end past the watermark.
        if entries[Int(entry)].end > watermark { reopen(entry, device: device, includingEqualStart: true) }
        if entries[Int(entry)].end <= watermark || emit == .updates { emitSession(entry, device: device) }
        return true
    }

    /// Queues the session if it changed since its last emission, retracting its previous key
    /// first when a merge moved its start.
    mutating func emitSession(_ entry: Int32, device: Int) {
        let e = Int(entry)
        guard entries[e].updatedAt > entries[e].emittedAt else { return }
        if entries[e].emittedAt > 0 && emittedStart[e] != entries[e].start {
            queueRetraction(device: device, start: emittedStart[e], end: emittedEnd[e], revision: entries[e].revision)
            entries[e].revision += 1
        }
        accumulators.withUnsafeBufferPointer { accumulators in
            sketches.withUnsafeBufferPointer { sketches in
                queue(
                    device: device, start: entries[e].start, end: entries[e].end, revision: entries[e].revision,
                    accumulator: accumulators.baseAddress! + e * stride,
                    sketches: sketchCount > 0 ? sketches.baseAddress! + e * sketchCount : nil)
            }
        }
        entries[e].revision += 1
        emittedStart[e] = entries[e].start
        emittedEnd[e] = entries[e].end
        entries[e].emittedAt = changes
    }
}
