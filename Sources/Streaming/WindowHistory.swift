// A series' closed windows that its comparisons read, in flat storage: per device a ring of
// window slots, in a block its group of devices takes from a pool when the first of them
// closes a window and returns when all of theirs have aged out.

/// Per device, a ring of the series' last ``capacity`` window numbers: place `n mod capacity`
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
/// arithmetic and a span is a run of places, and a device that reports every window (the
/// common case this serves) fills every slot anyway. The price is a full ring for a device
/// with a single window closed.
struct WindowHistory {
    /// Devices per group. A group's block holds place `r` of its devices' rings side by side:
    /// devices close the same windows at about the same time, so the slots that the closes of
    /// one hour write and read lie in a few runs the group's devices share, which stay in the
    /// cache, where a block per device put each device's slots in lines of their own (bench
    /// history, 10,000 devices, a reading a minute: the wait for history slots at a close fell
    /// by half; 1, 16, 64 and 256 lanes measured). More lanes would only add to the memory a
    /// group takes for its first device.
    static let lanes = 32

    /// Slots per device: the longest reach of the series' comparisons, plus the allowed
    /// lateness, in windows (and one for rounding): a window that can still be emitted ends
    /// less than the lateness before the watermark, and reads at most the longest reach back.
    let capacity: Int
    let stride: Int
    let sketchCount: Int

    /// Blocks of `capacity * lanes * stride` doubles, a slot's first double being its record count.
    var values: [Double] = []
    /// Blocks of `capacity * lanes * sketchCount` sketches (series with percentiles only).
    var sketches: [PercentileSketch] = []
    var freeBlocks: [Int32] = []

    // Per group of `lanes` devices.
    /// The group's block, or -1.
    var groupBlock: [Int32] = []
    /// The group's devices that hold history.
    var groupHolders: [Int32] = []

    // Per device.
    /// The slot of place 0 of the device's ring (place `r` is `first + r * lanes`), or -1: no history.
    var first: [Int] = []
    /// The window number after the newest window that entered.
    var end: [Int64] = []

    init(capacity: Int, stride: Int, sketchCount: Int) {
        self.capacity = capacity
        self.stride = stride
        self.sketchCount = sketchCount
    }

    mutating func addDevices(upTo count: Int) {
        let extra = count - first.count
        guard extra > 0 else { return }
        first.append(contentsOf: repeatElement(-1, count: extra))
        end.append(contentsOf: repeatElement(0, count: extra))
        let groups = (count + Self.lanes - 1) / Self.lanes
        if groups > groupBlock.count {
            groupBlock.append(contentsOf: repeatElement(-1, count: groups - groupBlock.count))
            groupHolders.append(contentsOf: repeatElement(0, count: groups - groupHolders.count))
        }
    }

    /// The slot (an index into the pool, in slots) of window `window`, or -1 if the device's
    /// history does not hold it.
    @inline(__always)
    func slot(device: Int, window: Int64) -> Int {
        let f = first[device]
        guard f >= 0, window < end[device], window >= end[device] - Int64(capacity) else { return -1 }
        let slot = f + ring(window) * Self.lanes
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
        if first[device] < 0 {
            first[device] = hold(device)
            end[device] = window + 1
        } else if window < end[device] - Int64(capacity) {
            return -1
        } else if window >= end[device] {
            var skipped = max(end[device], window - Int64(capacity) + 1)
            while skipped < window {
                values[(first[device] + ring(skipped) * Self.lanes) * stride] = 0
                skipped += 1
            }
        }
        end[device] = max(end[device], window + 1)
        return first[device] + ring(window) * Self.lanes
    }

    /// The device's place 0, in its group's block (taken if the group has none), every slot
    /// of its ring empty.
    private mutating func hold(_ device: Int) -> Int {
        let group = device / Self.lanes
        if groupBlock[group] < 0 { groupBlock[group] = takeBlock() }
        groupHolders[group] += 1
        let first = Int(groupBlock[group]) * capacity * Self.lanes + device % Self.lanes
        for place in 0 ..< capacity { values[(first + place * Self.lanes) * stride] = 0 }
        return first
    }

    /// A block: a reused one's slots are emptied device by device, as each is held.
    private mutating func takeBlock() -> Int32 {
        if let reused = freeBlocks.popLast() { return reused }
        let slots = capacity * Self.lanes
        let count = values.count / max(slots * stride, 1)
        values.append(contentsOf: repeatElement(0, count: slots * stride))
        sketches.append(contentsOf: repeatElement(PercentileSketch(), count: slots * sketchCount))
        return Int32(count)
    }

    /// Drops the device's whole history.
    mutating func release(device: Int) {
        let f = first[device]
        guard f >= 0 else { return }
        if sketchCount > 0 {
            for place in 0 ..< capacity {
                let slot = f + place * Self.lanes
                for k in slot * sketchCount ..< (slot + 1) * sketchCount { sketches[k].reset() }
            }
        }
        first[device] = -1
        end[device] = 0
        let group = device / Self.lanes
        groupHolders[group] -= 1
        if groupHolders[group] == 0 {
            freeBlocks.append(groupBlock[group])
            groupBlock[group] = -1
        }
    }

    /// Bytes of the blocks in use and the per-device and per-group arrays, for benchmarks.
    var bytesInUse: Int {
        let blocks = values.count / max(capacity * Self.lanes * stride, 1) - freeBlocks.count
        return blocks * capacity * Self.lanes
            * (stride * MemoryLayout<Double>.stride + sketchCount * MemoryLayout<PercentileSketch>.stride)
            + first.count * MemoryLayout<Int>.stride + end.count * MemoryLayout<Int64>.stride
            + groupBlock.count * 2 * MemoryLayout<Int32>.stride
    }
}
