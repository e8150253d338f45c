// The windowing engine of one app: assigns readings to the windows of every series, tracks
// watermarks, judges lateness, and emits revisions in a deterministic order. Processing
// time only enters through the `now` arguments, so tests drive it with a fake clock.

/// Why an engine could not be built from its specs.
public enum WindowEngineError: Error, Sendable, Equatable {
    /// A size, slide, gap or duration is not positive (or negative, for lateness and
    /// out-of-orderness), or is beyond ``WindowEngine/maxDuration``.
    case invalidDuration(series: String)
    /// A hopping window's size is not a multiple of its slide.
    case sizeNotMultipleOfSlide(series: String)
    /// An aggregate reads a field slot outside `0 ..< fieldCount`, or a percentile is not 1…99.
    case invalidAggregate(series: String, aggregate: String)
}

/// Windowed aggregation of device readings by event time.
///
/// Feed readings with ``process(_:now:into:)``; drive processing time with
/// ``advance(processingTime:into:)``; end a finite input with ``closeAll(into:)``.
/// Emissions go to a caller-supplied ``WindowResultSink`` in a deterministic order: within one
/// call, late-update revisions first, then closed windows, series in spec order and, within a
/// series, windows by end (devices by first appearance on a partition, or by id for
/// ``advance(processingTime:into:)`` and ``closeAll(into:)``).
///
/// Not thread-safe; one engine belongs to one pipeline.
public final class WindowEngine {
    /// Event times the engine accepts (about ±36 million years): arithmetic on window bounds
    /// never overflows inside it.
    public static let eventTimeRange: ClosedRange<Int64> = -(1 << 60) ... (1 << 60)
    /// The longest window, slide, gap, lateness, out-of-orderness or period accepted.
    public static let maxDuration: Int64 = 1 << 58

    /// The watermark before any reading.
    static let noWatermark: Int64 = -(1 << 62)
    /// The watermark after ``closeAll(into:)``.
    static let finalWatermark: Int64 = 1 << 62

    public let series: [SeriesSpec]
    public let watermarkSpec: WatermarkSpec
    public let fieldCount: Int

    var states: [SeriesState]
    @usableFromInline let output: PendingResults

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
    /// A lower bound on the earliest open window end among the partition's devices.
    var partitionNextClose: [Int64] = []
    var partitionDevices: [[Int32]] = []

    /// Per series: processing time of the next `every` emission, Int64.max if none.
    var nextEarlyEmission: [Int64]

    /// Builds an engine for one app's series.
    /// - Parameters:
    ///   - fieldCount: the number of numeric field slots a ``Reading`` carries.
    public init(series: [SeriesSpec], watermark: WatermarkSpec, fieldCount: Int) throws(WindowEngineError) {
        func valid(_ duration: Int64, allowZero: Bool = false) -> Bool {
            (allowZero ? duration >= 0 : duration > 0) && duration <= Self.maxDuration
        }
        for spec in series {
            switch spec.window {
            case .tumbling(let size):
                guard valid(size) else { throw .invalidDuration(series: spec.name) }
            case .hopping(let size, let slide):
                guard valid(size), valid(slide) else { throw .invalidDuration(series: spec.name) }
                guard size % slide == 0 else { throw .sizeNotMultipleOfSlide(series: spec.name) }
            case .session(let gap):
                guard valid(gap) else { throw .invalidDuration(series: spec.name) }
            }
            guard valid(spec.allowedLateness, allowZero: true) else { throw .invalidDuration(series: spec.name) }
            if case .every(let period) = spec.emit, !valid(period) { throw .invalidDuration(series: spec.name) }
            for aggregate in spec.aggregates {
                if aggregate.function != .count {
                    guard let field = aggregate.field, field >= 0, field < fieldCount else {
                        throw .invalidAggregate(series: spec.name, aggregate: aggregate.name)
                    }
                }
                if case .percentile(let p) = aggregate.function, !(1 ... 99).contains(p) {
                    throw .invalidAggregate(series: spec.name, aggregate: aggregate.name)
                }
            }
        }
        guard valid(watermark.outOfOrder, allowZero: true), watermark.idle.map({ valid($0) }) ?? true else {
            throw .invalidDuration(series: "watermark")
        }
        self.series = series
        self.watermarkSpec = watermark
        self.fieldCount = fieldCount
        let output = PendingResults()
        self.output = output
        states = series.enumerated().map { SeriesState(index: $0.offset, spec: $0.element, output: output) }
        nextEarlyEmission = Array(repeating: .max, count: series.count)
    }

    // MARK: Entry points

    /// Counts a reading into the windows of every series, then advances the watermark and
    /// emits what closed.
    ///
    /// Lateness is judged against the watermark *before* this reading. `now` is processing
    /// time (milliseconds, from the caller's clock), used for idle detection.
    @inlinable
    public func process<Sink: WindowResultSink>(_ reading: Reading, now: Int64, into sink: inout Sink) -> Admission {
        let admission = admit(reading, now: now)
        if !output.entries.isEmpty { output.drain(into: &sink) }
        return admission
    }

    /// Emits what processing time makes due: periodic early results (`emit: every`) and the
    /// open windows of devices silent for the idle timeout (without moving their watermarks).
    @inlinable
    public func advance<Sink: WindowResultSink>(processingTime now: Int64, into sink: inout Sink) {
        advanceCore(processingTime: now)
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// Closes every window of every device, as at the end of a finite input (batch). Later
    /// readings are all too late.
    @inlinable
    public func closeAll<Sink: WindowResultSink>(into sink: inout Sink) {
        closeAllCore()
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// The watermark a reading of `device` is judged against now.
    public func watermark(of device: DeviceID) -> Int64? {
        let d = Int(device.index)
        guard d < deviceWatermark.count else { return nil }
        let w = effectiveWatermark(d)
        return w == Self.noWatermark ? nil : w
    }

    // MARK: Core

    @usableFromInline
    func admit(_ reading: Reading, now: Int64) -> Admission {
        let t = reading.time
        guard Self.eventTimeRange.contains(t) else { return .invalidTime }
        let d = Int(reading.device.index)
        if d >= deviceWatermark.count { addDevices(upTo: d + 1) }
        if watermarkSpec.idle != nil { touch(d, now: now) }

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
            if counted { accepted = true }
        }

        let candidate = t - watermarkSpec.outOfOrder
        if partitionScope {
            var nextClose = partitionNextClose[partition]
            for state in states { nextClose = min(nextClose, state.nextClose(device: d)) }
            partitionNextClose[partition] = nextClose
            if candidate > partitionWatermark[partition] {
                partitionWatermark[partition] = candidate
                if candidate >= nextClose { closePartition(partition) }
            }
        } else if candidate > deviceWatermark[d] {
            deviceWatermark[d] = candidate
            for s in states.indices
            where states[s].nextClose(device: d) <= candidate || states[s].hasExpired(device: d, candidate) {
                states[s].close(device: d, watermark: candidate)
            }
        }
        return accepted ? .accepted : .tooLate
    }

    func effectiveWatermark(_ d: Int) -> Int64 {
        let own = deviceWatermark[d]
        guard watermarkSpec.scope == .partition else { return own }
        let partition = devicePartition[d]
        return partition >= 0 ? max(own, partitionWatermark[Int(partition)]) : own
    }

    /// Applies a partition's watermark to every device seen on it.
    func closePartition(_ partition: Int) {
        let watermark = partitionWatermark[partition]
        var nextClose = Int64.max
        var kept = 0
        var devices = partitionDevices[partition]
        partitionDevices[partition] = []
        for device in devices where devicePartition[Int(device)] == Int32(partition) {
            let d = Int(device)
            devices[kept] = device
            kept += 1
            if deviceWatermark[d] < watermark {
                deviceWatermark[d] = watermark
                for s in states.indices { states[s].close(device: d, watermark: watermark) }
            }
            for state in states { nextClose = min(nextClose, state.nextClose(device: d)) }
        }
        devices.removeLast(devices.count - kept)
        partitionDevices[partition] = devices
        partitionNextClose[partition] = nextClose
    }

    /// Rebinds a device to the partition it now arrives on, keeping its watermark monotonic.
    func move(_ d: Int, to partition: Int) {
        let old = devicePartition[d]
        if old >= 0 { deviceWatermark[d] = max(deviceWatermark[d], partitionWatermark[Int(old)]) }
        devicePartition[d] = Int32(partition)
        partitionDevices[partition].append(Int32(d))
        partitionNextClose[partition] = Int64.min  // rescan on the next advance: cheap and safe
    }

    @usableFromInline
    func advanceCore(processingTime now: Int64) {
        for s in states.indices {
            guard case .every(let period) = states[s].emit else { continue }
            if nextEarlyEmission[s] == .max {
                nextEarlyEmission[s] = now + period
                continue
            }
            guard now >= nextEarlyEmission[s] else { continue }
            for d in 0 ..< deviceWatermark.count { states[s].flushOpen(device: d) }
            // Skip missed periods rather than emitting a burst for each.
            nextEarlyEmission[s] += ((now - nextEarlyEmission[s]) / period + 1) * period
        }
        guard let idle = watermarkSpec.idle else { return }
        while idleHead >= 0 && now - lastActive[Int(idleHead)] >= idle {
            let d = Int(idleHead)
            unlinkIdle(d)
            for s in states.indices { states[s].flushOpen(device: d) }
        }
    }

    @usableFromInline
    func closeAllCore() {
        for d in 0 ..< deviceWatermark.count {
            deviceWatermark[d] = Self.finalWatermark
            for s in states.indices { states[s].close(device: d, watermark: Self.finalWatermark) }
        }
        for p in 0 ..< partitionWatermark.count {
            partitionWatermark[p] = Self.finalWatermark
            partitionNextClose[p] = .max
        }
    }

    // MARK: Devices and partitions

    func addDevices(upTo count: Int) {
        let extra = count - deviceWatermark.count
        deviceWatermark.append(contentsOf: repeatElement(Self.noWatermark, count: extra))
        devicePartition.append(contentsOf: repeatElement(-1, count: extra))
        lastActive.append(contentsOf: repeatElement(0, count: extra))
        idlePrev.append(contentsOf: repeatElement(-1, count: extra))
        idleNext.append(contentsOf: repeatElement(-2, count: extra))  // -2: not in the idle list
        for s in states.indices { states[s].addDevices(upTo: count) }
    }

    func addPartitions(upTo count: Int) {
        let extra = count - partitionWatermark.count
        partitionWatermark.append(contentsOf: repeatElement(Self.noWatermark, count: extra))
        partitionNextClose.append(contentsOf: repeatElement(.max, count: extra))
        partitionDevices.append(contentsOf: repeatElement([], count: extra))
    }

    /// Moves the device to the most-recently-active end of the idle list.
    func touch(_ d: Int, now: Int64) {
        lastActive[d] = now
        if idleTail == Int32(d) { return }
        if idleNext[d] != -2 { unlinkIdle(d) }
        idlePrev[d] = idleTail
        idleNext[d] = -1
        if idleTail >= 0 { idleNext[Int(idleTail)] = Int32(d) } else { idleHead = Int32(d) }
        idleTail = Int32(d)
    }

    func unlinkIdle(_ d: Int) {
        let before = idlePrev[d]
        let after = idleNext[d]
        if before >= 0 { idleNext[Int(before)] = after } else { idleHead = after }
        if after >= 0 { idlePrev[Int(after)] = before } else { idleTail = before }
        idlePrev[d] = -1
        idleNext[d] = -2
    }
}

extension SeriesState {
    /// Whether the device has state that the watermark has made unreachable.
    func hasExpired(device: Int, _ watermark: Int64) -> Bool {
        let first = head[device]
        return first >= 0 && end[Int(first)] + lateness + gap <= watermark
    }
}
