// Session windows: per device, records closer than the gap share a window [first, last + gap).
// A late record can extend a session backwards or bridge two sessions; see `addSession`.

extension SeriesState {
    /// Counts `reading` into its session; false if even a fresh session `[t, t + gap)` would be
    /// past its lateness.
    ///
    /// Merging is deterministic: the merged session keeps the earlier session's entry and
    /// starts at the earliest record. A key that disappears (the later part of a merge, or a
    /// start moved earlier) is retracted at once if it was emitted (``WindowResult/isRetraction``),
    /// so downstream can drop it. Revisions follow ``revision(of:count:)``: a record is late
    /// for a session that has closed before, and each late record is one revision.
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
        let late: Bool
        switch (joinsBefore, joinsAfter) {
        case (false, false):
            entry = allocate(start: t, end: t + gap)
            link(entry, device: device, after: before, before: after)
            late = t + gap <= watermark
        case (true, false):
            entry = before
            late = hasClosed(entry, watermark: watermark)
            entries[Int(entry)].end = max(entries[Int(entry)].end, t + gap)
        case (false, true):
            entry = after
            late = hasClosed(entry, watermark: watermark)
            retractKey(of: entry, device: device)
            entries[Int(entry)].start = t
        case (true, true):
            // Sessions are disjoint, so `before` ends first: if `after` has closed, so has it.
            entry = before
            late = hasClosed(entry, watermark: watermark) || hasClosed(after, watermark: watermark)
            retractKey(of: after, device: device)
            merge(after, into: entry)
            entries[Int(entry)].end = max(entries[Int(entry)].end, entries[Int(after)].end)
            entries[Int(entry)].revision = max(entries[Int(entry)].revision, entries[Int(after)].revision)
            entries[Int(entry)].updatedAt = max(entries[Int(entry)].updatedAt, entries[Int(after)].updatedAt)
            sessionFlags[Int(entry)] |= sessionFlags[Int(after)] & SessionFlags.closed
            if cursor[device] == after { cursor[device] = entry }
            release(after, device: device)
        }
        if late {
            sessionFlags[Int(entry)] |= SessionFlags.closed
            entries[Int(entry)].revision += 1
        }
        add(reading, to: entry)

        // A late record can reopen a closed session by pushing its end past the watermark.
        if entries[Int(entry)].end > watermark { reopen(entry, device: device, includingEqualStart: true) }
        if late || emit == .updates { markRevised(entry, device: device) }
        return true
    }

    /// Whether a record applied to the session now is late for it.
    private func hasClosed(_ entry: Int32, watermark: Int64) -> Bool {
        sessionFlags[Int(entry)] & SessionFlags.closed != 0 || entries[Int(entry)].end <= watermark
    }

    /// Retracts the session's current key, if it was emitted, before the key disappears: with
    /// the key's start and end now and a revision above every one it was emitted with. While
    /// ``replaying``, whether or not this engine emitted it: an earlier reading of the same
    /// records may have, in batches cut elsewhere.
    private mutating func retractKey(of entry: Int32, device: Int) {
        let e = Int(entry)
        guard replaying || sessionFlags[e] & SessionFlags.keyEmitted != 0 else { return }
        let last = revision(of: entry, count: accumulators[e * stride])
        queueRetraction(
            device: device, start: entries[e].start, end: entries[e].end, revision: last + 1,
            timing: timing(of: entry, device: device))
        sessionFlags[e] &= ~SessionFlags.keyEmitted
    }

    /// Queues the session if it changed since its last emission, or, on time, if it has data.
    mutating func emitSession(_ entry: Int32, device: Int, timing: ResultTiming) {
        let e = Int(entry)
        guard entries[e].updatedAt > entries[e].emittedAt || (timing == .onTime && entries[e].updatedAt > 0) else { return }
        let revision = self.revision(of: entry, count: accumulators[e * stride])
        accumulators.withUnsafeBufferPointer { accumulators in
            sketches.withUnsafeBufferPointer { sketches in
                queue(
                    device: device, start: entries[e].start, end: entries[e].end, revision: revision, timing: timing,
                    accumulator: accumulators.baseAddress! + e * stride,
                    sketches: sketchCount > 0 ? sketches.baseAddress! + e * sketchCount : nil)
            }
        }
        sessionFlags[e] |= SessionFlags.keyEmitted
        entries[e].emittedAt = changes
        forgetRevision(entry)
    }
}
