// The finished windows a series' comparisons still read once the windows are past their
// lateness (and so final), in flat storage: per device a ring of window slots, taken from a
// pool of blocks when the device first has history and returned when all of it ages out.

/// Per device, a ring of the series' last ``capacity`` window numbers: slot `n mod capacity`
/// holds window `n` (start `n * size`) if `end - capacity <= n < end` and its record count is
/// above 0. Windows enter in increasing order (a window is archived when it is purged, and
/// purges follow the watermark), so a push only clears the slots of windows it skips.
///
/// A ring rather than a list of the windows present: a comparison finds its window by
/// arithmetic, and a device that reports every window (the common case this serves) fills
/// every slot anyway. The price is a full block for a device with a single window of history.
struct WindowHistory {
    /// Slots per device: the longest reach of the series' comparisons, in windows. Windows
    /// further back are never read by a window that can still be emitted.
    let capacity: Int
    let stride: Int
    let sketchCount: Int

    /// Blocks of `capacity * stride` doubles, a slot's first double being its record count.
    var values: [Double] = []
    /// Blocks of `capacity * sketchCount` sketches (series with percentiles only).
    var sketches: [PercentileSketch] = []
    var freeBlocks: [Int32] = []

    // Per device.
    /// The device's block, or -1: no history.
    var block: [Int32] = []
    /// The window number after the newest window archived.
    var end: [Int64] = []

    init(capacity: Int, stride: Int, sketchCount: Int) {
        self.capacity = capacity
        self.stride = stride
        self.sketchCount = sketchCount
    }

    mutating func addDevices(upTo count: Int) {
        let extra = count - block.count
        guard extra > 0 else { return }
        block.append(contentsOf: repeatElement(-1, count: extra))
        end.append(contentsOf: repeatElement(0, count: extra))
    }

    /// The slot (an index into the pool, in slots) of window `window`, or -1 if the device's
    /// history does not hold it.
    @inline(__always)
    func slot(device: Int, window: Int64) -> Int {
        let b = block[device]
        guard b >= 0, window < end[device], window >= end[device] - Int64(capacity) else { return -1 }
        let slot = Int(b) * capacity + ring(window)
        return values[slot * stride] > 0 ? slot : -1
    }

    @inline(__always)
    func ring(_ window: Int64) -> Int {
        let r = Int(window % Int64(capacity))
        return r < 0 ? r + capacity : r
    }

    /// Makes room for window `window` of the device, the newest so far, and returns its slot
    /// for the caller to fill; skipped windows are cleared.
    mutating func claim(device: Int, window: Int64) -> Int {
        if block[device] < 0 {
            block[device] = takeBlock()
            end[device] = window + 1
        } else if window >= end[device] {
            let base = Int(block[device]) * capacity
            var skipped = max(end[device], window - Int64(capacity) + 1)
            while skipped < window {
                values[(base + ring(skipped)) * stride] = 0
                skipped += 1
            }
        }
        end[device] = max(end[device], window + 1)
        return Int(block[device]) * capacity + ring(window)
    }

    /// A block with every slot empty.
    private mutating func takeBlock() -> Int32 {
        if let reused = freeBlocks.popLast() {
            let base = Int(reused) * capacity
            for slot in base ..< base + capacity { values[slot * stride] = 0 }
            return reused
        }
        let count = values.count / max(capacity * stride, 1)
        values.append(contentsOf: repeatElement(0, count: capacity * stride))
        sketches.append(contentsOf: repeatElement(PercentileSketch(), count: capacity * sketchCount))
        return Int32(count)
    }

    /// Drops the device's whole history.
    mutating func release(device: Int) {
        let b = block[device]
        guard b >= 0 else { return }
        let base = Int(b) * capacity * sketchCount
        for k in base ..< base + capacity * sketchCount { sketches[k].reset() }
        freeBlocks.append(b)
        block[device] = -1
        end[device] = 0
    }

    /// Bytes held by the pool (blocks in use and free), for benchmarks.
    var poolBytes: Int {
        values.capacity * MemoryLayout<Double>.stride + sketches.capacity * MemoryLayout<PercentileSketch>.stride
            + (block.capacity + freeBlocks.capacity) * MemoryLayout<Int32>.stride + end.capacity * MemoryLayout<Int64>.stride
    }
}
