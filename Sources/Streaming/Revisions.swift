// Revision numbers and their coalescing: which revision an emission carries, and the windows
// revised during a batch that wait for the caller to end it. Which timing an emission carries
// (early, on time, late) is decided where it is made: `close` for on time, else
// `SeriesState.timing(of:device:)`.

/// A window revised during the current batch: the entry of its first pane (or its session).
struct PendingWindow {
    var device: Int32
    /// -1 once emitted or released before the batch ended.
    var entry: Int32
}

/// Per session entry, bits of ``SeriesState/sessionFlags``.
enum SessionFlags {
    /// The watermark has reached the session's end at least once: every record applied from
    /// then on is late for it, even after a late record reopens it.
    static let closed: UInt8 = 1
    /// The session's current key (its start) has been emitted, so it must be retracted if
    /// the key disappears.
    static let keyEmitted: UInt8 = 2
}

extension SeriesState {
    /// The revision an emission of `entry` carries now, `count` being the records in the window.
    ///
    /// Revisions are a function of the input, never of timing or batch boundaries, so a restart
    /// that applies the same records again emits byte-identical results:
    ///
    /// - `emit: final` and `emit: {every}`: revision k of a window is the window with k late
    ///   records applied. A record is late for a window when it is applied after the window
    ///   closed (the device's watermark, or the partition's with `per: partition`, was at or
    ///   past the window's end). The close emits revision 0; a window that closed without data
    ///   first appears with its first late record, as revision 1. Late records do not emit at once: the window is marked, and
    ///   ``emitRevisions()`` emits it once when the caller ends the batch, with the revision it
    ///   has then (so numbers skip when a batch holds several late records for one window). A
    ///   marked window that becomes unreachable (end + allowed lateness <= watermark) is
    ///   emitted before its state goes, so no revision's content is lost.
    /// - Early results (idle flush, `every` periods) carry the window's current revision and do
    ///   not change it: they are provisional (``ResultTiming/early``), and the result at close
    ///   has the same revision, comes after them in the device's output and is always emitted,
    ///   changed since the last early result or not, so it is what a consumer keeps.
    /// - `emit: updates`: revision = records applied to the window - 1, so every change is a
    ///   new revision; changes are coalesced per batch like late records. Those before the
    ///   close are early, since where batches end decides which appear; the close emits the
    ///   window again, on time, at the revision the last of them may already have carried.
    /// - Sessions (see `addSession`): revision k of a session is the session with k records
    ///   applied after it first closed (a record that reopens a session, or arrives while it is
    ///   reopened, counts). A merge takes the higher of the two parts' revisions, plus one when
    ///   the bridging record is late. A key (start) that disappears, absorbed by a merge or
    ///   moved by a record before the start, is retracted at once, if it was ever emitted, with
    ///   its start and end at that moment and its last revision + 1. So per key revisions never
    ///   decrease, and one (key, revision) always has the same values.
    /// - Comparisons (see Comparisons.swift): a window also changes when a window its
    ///   comparisons read does, and each such change is a revision too. With `emit: final` and
    ///   `{every}`, revision k of a window is the window with k records applied, after it
    ///   closed, to it or to any window its comparisons read (those end earlier, so the records
    ///   are late for them too); a record counts once however many comparisons read its window.
    ///   With `emit: updates`, revision = records applied to the window - 1 + records applied
    ///   to the windows its comparisons read since the window's first record.
    func revision(of entry: Int32, count: Double) -> Int64 {
        guard emit == .updates else { return entries[Int(entry)].revision }
        return Int64(count) - 1 + (hasComparisons ? entries[Int(entry)].revision : 0)
    }

    /// Marks the window whose first pane (or session) is `entry` for emission when the batch ends.
    mutating func markRevised(_ entry: Int32, device: Int) {
        guard pendingSlot[Int(entry)] < 0 else { return }
        pendingSlot[Int(entry)] = Int32(pending.count)
        pending.append(PendingWindow(device: Int32(device), entry: entry))
    }

    /// Takes `entry` off the pending list: it was just emitted, or its state goes.
    @inline(__always)
    mutating func forgetRevision(_ entry: Int32) {
        let slot = pendingSlot[Int(entry)]
        guard slot >= 0 else { return }
        pending[Int(slot)].entry = -1
        pendingSlot[Int(entry)] = -1
    }

    /// Emits every window revised since the last call, once each, in order of first revision.
    mutating func emitRevisions() {
        guard !pending.isEmpty else { return }
        for i in pending.indices {
            let window = pending[i]
            guard window.entry >= 0 else { continue }
            emitIfChanged(window.entry, device: Int(window.device))
            forgetRevision(window.entry)
        }
        pending.removeAll(keepingCapacity: true)
    }
}
