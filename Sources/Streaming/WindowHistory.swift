// A series' closed windows that its comparisons read, in flat storage: per device a ring of
// window slots, taken from a pool of blocks when the device first closes a window and
// returned when all of it ages out.

/// Per device, a ring of the series' last ``capacity`` window numbers: slot `n mod capacity`
/// holds window `n` (start `n * size`) if `end - capacity <= n < end` and its record count is
/// above 0. A window enters when it closes (or is made by a record after its end), as an exact
/// copy of its entry that late records keep up to date, and stays after its entry is released
/// (past its lateness) until no window that can still be emitted reads it.
///
/// Windows mostly enter in increasing order, so a push only clears the slots of the windows it
/// skips; one made late (by a record after its end) enters below the newest, in a slot that
/// was cleared when the newest passed it.
///
/// A ring rather than a list of the windows present: a comparison finds its window by
/// arithmetic and a span is a run of adjacent slots, and a device that reports every window
/// (the common case this serves) fills every slot anyway. The price is a full block for a
/// device with a single window closed.
struct WindowHistory {
    /// Slots per device: the longest reach of the series' comparisons, plus the allowed
    /// lateness, in windows (and one for rounding): a window that can still be emitted ends
    /// less than the lateness before the watermark, and reads at most the longest reach back.
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
    /// The window number after the newest window that entered.
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

    /// The slot of window `window` of the device, for the caller to fill, made room for if it
    /// is the newest so far (windows it skips are cleared); -1 if it is older than the ring
    /// reaches, which a window that can still be emitted never is.
    mutating func claim(device: Int, window: Int64) -> Int {
        if block[device] < 0 {
            block[device] = takeBlock()
            end[device] = window + 1
        } else if window < end[device] - Int64(capacity) {
            return -1
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

    /// Bytes of the blocks in use and the per-device arrays, for benchmarks.
    var bytesInUse: Int {
        let blocks = values.count / max(capacity * stride, 1) - freeBlocks.count
        return blocks * capacity * (stride * MemoryLayout<Double>.stride + sketchCount * MemoryLayout<PercentileSketch>.stride)
            + block.count * MemoryLayout<Int32>.stride + end.count * MemoryLayout<Int64>.stride
    }
}
