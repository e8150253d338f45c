// The comparisons' history in a device record (see DeviceRecordFormat): the windows past their
// lateness that later windows still compare with; the closed windows within it are copied
// again from the device's entries when the record is read.

extension SeriesState {
    func holdsHistory(device: Int) -> Bool {
        hasComparisons && device < history.first.count && history.first[device] >= 0
    }

    /// Writes the device's history: only the windows past their lateness (the others copy
    /// closed entries, and are copied again when those are read back); `watermark` anchors its
    /// end (0 without one).
    func encodeHistory(device: Int, watermark: Int64, into bytes: inout [UInt8]) {
        guard history.first[device] >= 0 else {
            bytes.appendVarint(0)
            return
        }
        let end = history.end[device], first = end - Int64(history.capacity)
        let live = head[device] >= 0 ? floorDivide(entries[Int(head[device])].start, size) : end
        let past = first ..< min(end, live)
        var count = 0
        for window in past where history.slot(device: device, window: window) >= 0 { count += 1 }
        bytes.appendVarint(UInt64(count) + 1)
        bytes.appendSignedVarint(end &- floorDivide(watermark, size))
        var previous = first - 1
        for window in past {
            let slot = history.slot(device: device, window: window)
            guard slot >= 0 else { continue }
            bytes.appendVarint(UInt64(window - previous - 1))
            encodeAccumulator(history.values, at: slot * stride, into: &bytes)
            for k in 0 ..< sketchCount { history.sketches[slot * sketchCount + k].encode(into: &bytes) }
            previous = window
        }
    }

    /// Reads the device's history (it has none yet; its entries are read), if `written`, and
    /// copies its closed entries into it. On a throw, what was read stays: the caller discards it.
    mutating func decodeHistory(
        device: Int, watermark: Int64, written: Bool, from reader: inout StateReader
    ) throws(SnapshotError) {
        let capacity = Int64(history.capacity)
        // Each window takes at least two bytes: a cheap bound before allocating.
        let windows = written ? try reader.count(atMost: min(history.capacity, reader.remaining / 2) + 1) : 0
        var end: Int64?
        if windows > 0 {
            let relative = try reader.signedVarint()
            guard relative.magnitude <= UInt64(DeviceRecordFormat.anchorDistanceLimit / size) else { throw .corrupt }
            let written = floorDivide(watermark, size) + relative
            guard written.magnitude <= UInt64(DeviceRecordFormat.timeLimit / size) else { throw .corrupt }
            end = written
            let live = head[device] >= 0 ? floorDivide(entries[Int(head[device])].start, size) : written
            var previous = written - capacity - 1
            for _ in 0 ..< windows - 1 {
                let window = previous + 1 + Int64(try reader.count(atMost: Int(capacity)))
                guard window < min(written, live) else { throw .corrupt }
                let slot = history.claim(device: device, window: window)
                guard slot >= 0 else { throw .corrupt }
                for k in 0 ..< stride { history.values[slot * stride + k] = emptyAccumulator[k] }
                try Self.decodeAccumulator(into: &history.values, at: slot * stride, stride: stride, from: &reader)
                for k in 0 ..< sketchCount { try history.sketches[slot * sketchCount + k].decode(from: &reader) }
                guard history.values[slot * stride] >= 1,
                    accumulatorIsConsistent(history.values, at: slot * stride, sketches: history.sketches, at: slot * sketchCount)
                else { throw .corrupt }
                previous = window
            }
        }
        var e = head[device]
        while e >= 0 && e != cursor[device] {
            guard end == nil || floorDivide(entries[Int(e)].start, size) >= end! - capacity else { throw .corrupt }
            mirror(e, device: device)
            e = entries[Int(e)].next
        }
        if let end {
            // The end written may be past the newest window kept, as the ring's place follows it.
            guard history.first[device] >= 0, end >= history.end[device] else { throw .corrupt }
            history.end[device] = end
        }
        refreshDue(device: device)
    }
}
