// The engine's mutable state and per-record logic, as a struct so that the hot path runs
// without dynamic exclusivity checks; WindowEngine is the public, reference-typed face.

/// Watermarks, idle tracking and the series' windows of one engine.
@usableFromInline
struct EngineCore {
    let watermarkSpec: WatermarkSpec
    var states: [SeriesState]
    /// The emissions queue the states share; read to tell which devices an emission changed.
    let output: PendingResults

    /// Devices whose state changed since ``takeChangedDevices(into:)``, each once
    /// (``isChanged``), so a checkpoint visits only those.
    var changedDevices: [Int32] = []
    var isChanged: [Bool] = []
    var changedPartitions: [Int32] = []
    var isPartitionChanged: [Bool] = []

    // Per device.
    /// The watermark applied to the device's windows (per partition: the last one applied).
    var deviceWatermark: [Int64] = []
    /// The partition the device was last seen on (partition scope), -1 before.
    var devicePartition: [Int32] = []
    /// Idle tracking: devices in order of last activity (processing time).
    var lastActive: [Int64] = []
    var idlePrev: [Int32] = []
    var idleNext: [Int32] = []
    var idleHead: Int32 = -1
    var idleTail: Int32 = -1

    // Per partition (partition scope).
    var partitionWatermark: [Int64] = []
    /// The devices seen on the partition, in order of arrival on it (devices that moved away
    /// linger until the list is compacted).
    var partitionDevices: [[Int32]] = []
    var partitionDeparted: [Int] = []
    /// Per partition, a min-heap of (due, device): a watermark step closes the devices that
    /// have something due without visiting the others. Entries go stale when a device's due
    /// time is pushed again or it moves; `scheduledDue` tells the live one.
    var partitionHeap: [[PartitionDue]] = []
    /// Per device (partition scope): the due time of its live heap entry, Int64.max if none.
    var scheduledDue: [Int64] = []
    /// Per device (partition scope): when it arrived on its partition, to close devices in order
    /// of arrival.
    var arrival: [Int64] = []
    var arrivals: Int64 = 0
    /// Scratch for ``closePartition(_:)``.
    var dueDevices: [Int32] = []

    /// Per series: processing time of the next `every` emission, Int64.max if none (or not
    /// started: the first ``advanceCore(processingTime:)`` starts the period).
    var nextEarlyEmission: [Int64]
    /// The earliest of ``nextEarlyEmission``, Int64.min while a period is still to be started:
    /// with the idle list's head it makes ``isDue(_:)`` two comparisons.
    var nextTick: Int64 = .max

    init(watermarkSpec: WatermarkSpec, states: [SeriesState], output: PendingResults) {
        self.watermarkSpec = watermarkSpec
        self.states = states
        self.output = output
        nextEarlyEmission = Array(repeating: .max, count: states.count)
        refreshNextTick()
    }

    mutating func refreshNextTick() {
        nextTick = .max
        for s in states.indices {
            guard case .every = states[s].emit else { continue }
            nextTick = min(nextTick, nextEarlyEmission[s] == .max ? .min : nextEarlyEmission[s])
        }
    }

    /// Processing time from which ``advanceCore(processingTime:)`` has work, nil if none is
    /// pending (Int64.min: the next call, whatever its time).
    var nextDeadline: Int64? {
        var deadline = nextTick
        if let idle = watermarkSpec.idle, idleHead >= 0 {
            deadline = min(deadline, lastActive[Int(idleHead)] + idle)
        }
        return deadline == .max ? nil : deadline
    }

    /// Whether processing time `now` makes anything due; O(1).
    @usableFromInline
    func isDue(_ now: Int64) -> Bool {
        if now >= nextTick { return true }
        guard let idle = watermarkSpec.idle, idleHead >= 0 else { return false }
        return now - lastActive[Int(idleHead)] >= idle
    }

    // MARK: Core

    @usableFromInline
    mutating func admit(_ reading: Reading, now: Int64) -> Admission {
        let t = reading.time
        guard WindowEngine.eventTimeRange.contains(t) else { return .invalidTime }
        let d = Int(reading.device.index)
        if d >= deviceWatermark.count { addDevices(upTo: d + 1) }
        if watermarkSpec.idle != nil { touch(d, now: now) }
        markChanged(d)

        let partitionScope = watermarkSpec.scope == .partition
        var partition = 0
        if partitionScope {
            partition = Int(max(0, reading.partition))
            if partition >= partitionWatermark.count { addPartitions(upTo: partition + 1) }
            if devicePartition[d] != Int32(partition) { move(d, to: partition) }
        }
        let before = effectiveWatermark(d)

        var accepted = states.isEmpty
        for s in states.indices {
            let counted =
                states[s].isSession
                ? states[s].addSession(reading, device: d, watermark: before)
                : states[s].addFixed(reading, device: d, watermark: before)
            if counted {
                accepted = true
                if states[s].hasComparisons { states[s].comparisonsFollow(reading, device: d, watermark: before) }
            }
        }

        let candidate = t - watermarkSpec.outOfOrder
        if partitionScope {
            schedule(d, on: partition)
            advancePartition(partition, to: candidate)
        } else if candidate > deviceWatermark[d] {
            deviceWatermark[d] = candidate
            for s in states.indices where states[s].due[d] <= candidate {
                states[s].close(device: d, watermark: candidate)
            }
        }
        return accepted ? .accepted : .tooLate
    }

    /// Moves a partition's watermark up to `candidate`, closing what that makes due.
    @inline(__always)
    mutating func advancePartition(_ partition: Int, to candidate: Int64) {
        guard candidate > partitionWatermark[partition] else { return }
        partitionWatermark[partition] = candidate
        markPartitionChanged(partition)
        if let first = partitionHeap[partition].first, first.due <= candidate { closePartition(partition) }
    }

    /// A reading the device's restored state already covers: the device stays as it is (its
    /// idle timeout started at its restore), but a partition's watermark follows every reading
    /// on it, as it did when the reading was first processed.
    @usableFromInline
    mutating func observeCovered(_ reading: Reading) {
        guard watermarkSpec.scope == .partition, WindowEngine.eventTimeRange.contains(reading.time) else { return }
        let partition = Int(max(0, reading.partition))
        if partition >= partitionWatermark.count { addPartitions(upTo: partition + 1) }
        advancePartition(partition, to: reading.time - watermarkSpec.outOfOrder)
    }

    /// Emits the windows revised during the batch that ends, once each.
    @usableFromInline
    mutating func endBatchCore() {
        for s in states.indices where !states[s].pending.isEmpty {
            for window in states[s].pending where window.entry >= 0 { markChanged(Int(window.device)) }
            states[s].emitRevisions()
        }
    }

    // MARK: Changed devices

    @inline(__always)
    mutating func markChanged(_ d: Int) {
        guard !isChanged[d] else { return }
        isChanged[d] = true
        changedDevices.append(Int32(d))
    }

    mutating func markPartitionChanged(_ p: Int) {
        guard !isPartitionChanged[p] else { return }
        isPartitionChanged[p] = true
        changedPartitions.append(Int32(p))
    }

    /// Emits the device's open windows that changed (idle flush, `every` period); an emission
    /// changes the device's emission bookkeeping, so it is marked changed.
    mutating func flushOpen(series s: Int, device d: Int) {
        let queued = output.entries.count
        states[s].flushOpen(device: d)
        if output.entries.count != queued { markChanged(d) }
    }

    func effectiveWatermark(_ d: Int) -> Int64 {
        let own = deviceWatermark[d]
        guard watermarkSpec.scope == .partition else { return own }
        let partition = devicePartition[d]
        return partition >= 0 ? max(own, partitionWatermark[Int(partition)]) : own
    }

    /// The earliest watermark at which the device's windows need closing or purging.
    func due(_ d: Int) -> Int64 {
        var due = Int64.max
        for s in states.indices { due = min(due, states[s].due[d]) }
        return due
    }

    /// Makes sure the partition's heap holds the device at its due time (or earlier).
    mutating func schedule(_ d: Int, on partition: Int) {
        let due = self.due(d)
        guard due < scheduledDue[d] else { return }
        scheduledDue[d] = due
        partitionHeap[partition].pushDue(PartitionDue(due: due, device: Int32(d)))
    }

    /// Applies a partition's watermark to the devices on it that have something due, in order
    /// of their arrival on the partition.
    mutating func closePartition(_ partition: Int) {
        let watermark = partitionWatermark[partition]
        dueDevices.removeAll(keepingCapacity: true)
        while let first = partitionHeap[partition].first, first.due <= watermark {
            partitionHeap[partition].popDue()
            let d = Int(first.device)
            // Stale: pushed again since, or moved to another partition.
            guard scheduledDue[d] == first.due, devicePartition[d] == Int32(partition) else { continue }
            scheduledDue[d] = .max
            dueDevices.append(first.device)
        }
        dueDevices.sort { arrival[Int($0)] < arrival[Int($1)] }
        for device in dueDevices {
            let d = Int(device)
            markChanged(d)
            if deviceWatermark[d] < watermark { deviceWatermark[d] = watermark }
            for s in states.indices { states[s].close(device: d, watermark: watermark) }
            schedule(d, on: partition)
        }
    }

    /// Rebinds a device to the partition it now arrives on, keeping its watermark monotonic.
    mutating func move(_ d: Int, to partition: Int) {
        let old = Int(devicePartition[d])
        if old >= 0 {
            deviceWatermark[d] = max(deviceWatermark[d], partitionWatermark[old])
            partitionDeparted[old] += 1
            if partitionDeparted[old] > partitionDevices[old].count / 2 + 16 {
                partitionDevices[old].removeAll { devicePartition[Int($0)] != Int32(old) || Int($0) == d }
                partitionDeparted[old] = 0
            }
        }
        devicePartition[d] = Int32(partition)
        partitionDevices[partition].append(Int32(d))
        arrivals += 1
        arrival[d] = arrivals
        scheduledDue[d] = .max  // its entry on the old partition is stale now
    }

    @usableFromInline
    mutating func advanceCore(processingTime now: Int64) {
        guard isDue(now) else { return }
        if now >= nextTick {
            for s in states.indices {
                guard case .every(let period) = states[s].emit else { continue }
                if nextEarlyEmission[s] == .max {
                    nextEarlyEmission[s] = now + period
                    continue
                }
                guard now >= nextEarlyEmission[s] else { continue }
                for d in 0 ..< deviceWatermark.count { flushOpen(series: s, device: d) }
                // Skip missed periods rather than emitting a burst for each.
                nextEarlyEmission[s] += ((now - nextEarlyEmission[s]) / period + 1) * period
            }
            refreshNextTick()
        }
        guard let idle = watermarkSpec.idle else { return }
        while idleHead >= 0 && now - lastActive[Int(idleHead)] >= idle {
            let d = Int(idleHead)
            unlinkIdle(d)
            for s in states.indices { flushOpen(series: s, device: d) }
        }
    }

    @usableFromInline
    mutating func closeAllCore() {
        for d in 0 ..< deviceWatermark.count {
            deviceWatermark[d] = WindowEngine.finalWatermark
            markChanged(d)
            for s in states.indices { states[s].close(device: d, watermark: WindowEngine.finalWatermark) }
        }
        for p in 0 ..< partitionWatermark.count {
            partitionWatermark[p] = WindowEngine.finalWatermark
            markPartitionChanged(p)
            partitionHeap[p] = []
        }
        for d in scheduledDue.indices { scheduledDue[d] = .max }
    }

    // MARK: Devices and partitions

    mutating func addDevices(upTo count: Int) {
        let extra = count - deviceWatermark.count
        deviceWatermark.append(contentsOf: repeatElement(WindowEngine.noWatermark, count: extra))
        devicePartition.append(contentsOf: repeatElement(-1, count: extra))
        lastActive.append(contentsOf: repeatElement(0, count: extra))
        idlePrev.append(contentsOf: repeatElement(-1, count: extra))
        idleNext.append(contentsOf: repeatElement(-2, count: extra))  // -2: not in the idle list
        isChanged.append(contentsOf: repeatElement(false, count: extra))
        if watermarkSpec.scope == .partition {
            scheduledDue.append(contentsOf: repeatElement(.max, count: extra))
            arrival.append(contentsOf: repeatElement(0, count: extra))
        }
        for s in states.indices { states[s].addDevices(upTo: count) }
    }

    mutating func addPartitions(upTo count: Int) {
        let extra = count - partitionWatermark.count
        partitionWatermark.append(contentsOf: repeatElement(WindowEngine.noWatermark, count: extra))
        partitionDevices.append(contentsOf: repeatElement([], count: extra))
        partitionDeparted.append(contentsOf: repeatElement(0, count: extra))
        partitionHeap.append(contentsOf: repeatElement([], count: extra))
        isPartitionChanged.append(contentsOf: repeatElement(false, count: extra))
    }

    /// Moves the device to the most-recently-active end of the idle list.
    mutating func touch(_ d: Int, now: Int64) {
        lastActive[d] = now
        if idleTail == Int32(d) { return }
        if idleNext[d] != -2 { unlinkIdle(d) }
        idlePrev[d] = idleTail
        idleNext[d] = -1
        if idleTail >= 0 { idleNext[Int(idleTail)] = Int32(d) } else { idleHead = Int32(d) }
        idleTail = Int32(d)
    }

    mutating func unlinkIdle(_ d: Int) {
        let before = idlePrev[d]
        let after = idleNext[d]
        if before >= 0 { idleNext[Int(before)] = after } else { idleHead = after }
        if after >= 0 { idlePrev[Int(after)] = before } else { idleTail = before }
        idlePrev[d] = -1
        idleNext[d] = -2
    }
}

/// A device's due time in its partition's heap.
struct PartitionDue {
    var due: Int64
    var device: Int32
}

extension Array where Element == PartitionDue {
    /// Binary min-heap on `due`; ties by device so the heap's shape is deterministic.
    mutating func pushDue(_ item: PartitionDue) {
        append(item)
        var child = count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(self[child], self[parent]) else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    mutating func popDue() {
        let last = removeLast()
        guard !isEmpty else { return }
        self[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < count && Self.before(self[left], self[smallest]) { smallest = left }
            if right < count && Self.before(self[right], self[smallest]) { smallest = right }
            if smallest == parent { break }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private static func before(_ a: PartitionDue, _ b: PartitionDue) -> Bool {
        a.due < b.due || (a.due == b.due && a.device < b.device)
    }
}
