// The windowing engine of one app: assigns readings to the windows of every series, tracks
// watermarks, judges lateness, and emits revisions in a deterministic order. Processing
// time only enters through the `now` arguments, so tests drive it with a fake clock.

/// Why an engine could not be built from its specs.
package enum WindowEngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A size, slide, gap or duration is not positive (or negative, for lateness and
    /// out-of-orderness), or is beyond ``WindowEngine/maxDuration``.
    case invalidDuration(series: String)
    /// A hopping window's size is not a multiple of its slide.
    case sizeNotMultipleOfSlide(series: String)
    /// A hopping window puts each reading in more than ``WindowEngine/maxWindowsPerReading``
    /// windows (size / slide).
    case tooManyWindowsPerReading(series: String)
    /// A hopping series keeps more than ``WindowEngine/maxPanesPerDevice`` panes of a device
    /// open or revisable ((size + allowed lateness) / slide).
    case tooManyPanesPerDevice(series: String)
    /// An aggregate reads a field slot outside `0 ..< fieldCount`, or a percentile is not 1…99.
    case invalidAggregate(series: String, aggregate: String)
    /// A comparison on a hopping or session series: only tumbling windows line up with the
    /// windows an offset or span names.
    case comparisonNeedsTumblingWindow(series: String, comparison: String)
    /// A comparison's offset or span is not a positive multiple of the window size (or is
    /// beyond ``WindowEngine/maxDuration``).
    case comparisonNotMultipleOfWindow(series: String, comparison: String)
    /// A comparison's offset or span plus the allowed lateness is more than
    /// ``WindowEngine/maxComparisonWindows`` windows: a device's history would keep that many.
    case tooManyComparisonWindows(series: String, comparison: String)

    package var description: String {
        switch self {
        case .invalidDuration(let series):
            "\(series == "watermark" ? "the watermark" : "series '\(series)'") has a duration that is negative, zero where it must be positive, or longer than \(WindowEngine.maxDuration) ms"
        case .sizeNotMultipleOfSlide(let series):
            "series '\(series)': the window size is not a multiple of its slide"
        case .tooManyWindowsPerReading(let series):
            "series '\(series)': each reading would be in more than \(WindowEngine.maxWindowsPerReading) windows (size / slide)"
        case .tooManyPanesPerDevice(let series):
            "series '\(series)': a device would keep more than \(WindowEngine.maxPanesPerDevice) panes ((size + allowed lateness) / slide)"
        case .invalidAggregate(let series, let aggregate):
            "series '\(series)': aggregate '\(aggregate)' reads no field or is not a percentile from 1 to 99"
        case .comparisonNeedsTumblingWindow(let series, let comparison):
            "series '\(series)': comparison '\(comparison)' needs a tumbling window"
        case .comparisonNotMultipleOfWindow(let series, let comparison):
            "series '\(series)': the offset or span of comparison '\(comparison)' is not a positive multiple of the window size"
        case .tooManyComparisonWindows(let series, let comparison):
            "series '\(series)': comparison '\(comparison)' would keep more than \(WindowEngine.maxComparisonWindows) windows of history per device ((offset or span + allowed lateness) / window size)"
        }
    }
}

/// Windowed aggregation of device readings by event time.
///
/// Feed readings with ``process(_:now:into:)`` and end each batch of them with
/// ``endBatch(into:)``; drive processing time with ``advance(processingTime:into:)``; end a
/// finite input with ``closeAll(into:)``. A window is emitted when it closes; late records
/// (and, with `emit: updates`, every record) revise it, and the revised windows are emitted
/// once each when the batch ends. Revision k of a window is the window with k late records
/// applied (with `emit: updates`, k + 1 records), so revisions are a function of the input:
/// where batches end only decides which revisions are emitted. Every emission says whether
/// it came before the window closed (early: provisional), at its close (on time: always
/// emitted, superseding early ones) or after (late); see ``ResultTiming``. A series with comparisons reads
/// the device's earlier windows; a record applied to one of them after a window that reads it
/// has closed revises that window too (see Revisions.swift).
/// Emissions go to a caller-supplied ``WindowResultSink`` in a deterministic order: within one
/// call, series in spec order and, within a series, windows by end (devices by first
/// appearance on a partition, or by id for ``advance(processingTime:into:)`` and
/// ``closeAll(into:)``); a batch's revisions in order of their first late record.
///
/// Durable state is per device: ``takeChangedDevices(into:)`` names the devices whose state
/// changed, ``encode(device:into:)`` writes one, and ``restore(device:from:now:)`` reads it
/// back into another engine (see DeviceState.swift).
///
/// Not thread-safe; one engine belongs to one pipeline.
///
/// Public, with its inlinable entry points and the types they touch (`Reading`, `DeviceID`,
/// `Admission`, `WindowResult`, the sinks, `AggregateValue`, `AggregateFunction`,
/// `PercentileSketch`), where the rest of the module is `package`: Swift 6.3 does not
/// specialize an `@inlinable package` generic in the module that calls it, and the record
/// path needs `process` specialized for its sink (bench engine as `package`: 8% slower).
public final class WindowEngine {
    /// Event times the engine accepts (about ±36 million years): arithmetic on window bounds
    /// never overflows inside it.
    package static let eventTimeRange: ClosedRange<Int64> = -(1 << 60) ... (1 << 60)
    /// The longest window, slide, gap, lateness, out-of-orderness or period accepted.
    package static let maxDuration: Int64 = 1 << 58
    /// The most hopping windows one reading may belong to (size / slide). Every one of them is
    /// emitted, and a device's first reading creates an entry for each: the bound keeps one
    /// reading's cost to at most this many results and entries. It admits a day sliding by
    /// 10 s (8,640), an hour by the second (3,600), a day by the minute (1,440).
    package static let maxWindowsPerReading: Int64 = 10_000
    /// The most panes (one slide of event time each) a hopping series may keep per device:
    /// its windows stay revisable for size + allowed lateness, and every slide of that span
    /// holding data is a pane and a window entry (a few hundred bytes). The bound keeps a
    /// steadily reporting device to tens of megabytes; it admits a day sliding by the minute
    /// with 68 days of lateness, by 10 s with 10 days, an hour by the second with 26 hours.
    /// Tumbling windows hold one entry per pane with data, like any state, and are not bounded.
    package static let maxPanesPerDevice: Int64 = 100_000
    /// The most windows of history a comparison may need ((offset or span + allowed lateness)
    /// / window size). A device keeps a slot of aggregates for each window of the longest
    /// once it has closed a window (see WindowHistory.swift), so the bound keeps a device's
    /// history to a few megabytes; it admits a minute compared with the same minute 69 days
    /// before, an hour with the same hour 11 years before.
    package static let maxComparisonWindows: Int64 = 100_000

    /// The watermark before any reading.
    static let noWatermark: Int64 = -(1 << 62)
    /// The watermark after ``closeAll(into:)``.
    static let finalWatermark: Int64 = 1 << 62

    package let series: [SeriesSpec]
    package let watermarkSpec: WatermarkSpec
    package let fieldCount: Int
    /// A hash of what device records depend on (series windows, emission policies, aggregates,
    /// comparisons, watermark scope): records are only meaningful to an engine with the same
    /// signature. An app whose definition changes this way starts from empty state.
    ///
    /// Stored, not computed: every device record of a checkpoint carries it, and hashing the
    /// specs anew (an array and a loop) cost more than encoding the device (3,200 of 8,400
    /// instructions a record under callgrind).
    package let stateSignature: UInt64

    @usableFromInline let output: PendingResults
    /// All mutable state in one struct, so the hot path runs without per-array dynamic checks.
    /// The remaining check per call is switched off too (it cost ~15% of a record): every
    /// access to `core` is a single call that never calls out (sinks run after it returns,
    /// from `output`), and the engine is documented as single-threaded, so no two accesses
    /// can overlap.
    @exclusivity(unchecked) @usableFromInline var core: EngineCore

    /// Whether the records applied now may have been applied before, by a process that
    /// crashed after emitting results but before its state was written: a session key that
    /// disappears meanwhile is then retracted even if this engine never emitted it, since the
    /// earlier reading may have (its batches ended elsewhere). Results stay identical
    /// otherwise; a retraction of a key nobody saw is harmless.
    package var replaying = false {
        didSet {
            guard replaying != oldValue else { return }
            for s in core.states.indices { core.states[s].replaying = replaying }
        }
    }


    /// Builds an engine for one app's series.
    /// - Parameters:
    ///   - fieldCount: the number of numeric field slots a ``Reading`` carries.
    package init(series: [SeriesSpec], watermark: WatermarkSpec, fieldCount: Int) throws(WindowEngineError) {
        try Self.validate(series: series, watermark: watermark, fieldCount: fieldCount)
        self.series = series
        self.watermarkSpec = watermark
        self.fieldCount = fieldCount
        stateSignature = Self.stateSignature(series: series, watermark: watermark)
        let output = PendingResults()
        self.output = output
        core = EngineCore(
            watermarkSpec: watermark,
            states: series.enumerated().map { SeriesState(index: $0.offset, spec: $0.element, output: output) },
            output: output)
    }

    /// Checks specs as ``init(series:watermark:fieldCount:)`` does, without building anything,
    /// so a loader can refuse what an engine would not start with.
    package static func validate(series: [SeriesSpec], watermark: WatermarkSpec, fieldCount: Int) throws(WindowEngineError) {
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
                guard size / slide <= Self.maxWindowsPerReading else { throw .tooManyWindowsPerReading(series: spec.name) }
                guard (size + max(spec.allowedLateness, 0)) / slide <= Self.maxPanesPerDevice else {
                    throw .tooManyPanesPerDevice(series: spec.name)
                }
            case .session(let gap):
                guard valid(gap) else { throw .invalidDuration(series: spec.name) }
            }
            guard valid(spec.allowedLateness, allowZero: true) else { throw .invalidDuration(series: spec.name) }
            if case .every(let period) = spec.emit, !valid(period) { throw .invalidDuration(series: spec.name) }
            try validateComparisons(of: spec)
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
    }

    private static func validateComparisons(of spec: SeriesSpec) throws(WindowEngineError) {
        for comparison in spec.comparisons {
            guard case .tumbling(let size) = spec.window else {
                throw .comparisonNeedsTumblingWindow(series: spec.name, comparison: comparison.name)
            }
            let reach = comparison.reach.duration
            guard reach > 0, reach <= maxDuration, reach % size == 0 else {
                throw .comparisonNotMultipleOfWindow(series: spec.name, comparison: comparison.name)
            }
            guard (reach + max(spec.allowedLateness, 0)) / size <= maxComparisonWindows else {
                throw .tooManyComparisonWindows(series: spec.name, comparison: comparison.name)
            }
        }
    }

    // MARK: Entry points

    /// Counts a reading into the windows of every series, then advances the watermark and
    /// emits what closed.
    ///
    /// Lateness is judged against the watermark *before* this reading. `now` is processing
    /// time (milliseconds, from the caller's clock), used for idle detection.
    @inlinable
    public func process<Sink: WindowResultSink>(_ reading: Reading, now: Int64, into sink: inout Sink) -> Admission {
        let admission = core.admit(reading, now: now)
        if !output.entries.isEmpty { output.drain(into: &sink) }
        return admission
    }

    /// Ends a batch of readings: emits every window revised during it (late records; with
    /// `emit: updates`, any record) once, with the revision it has now.
    ///
    /// Where batches end changes which revisions are emitted, never what a revision holds, so
    /// the caller may end them wherever suits it (a poll, a number of lines), as long as it
    /// ends one before a checkpoint it wants to hold no pending revision.
    @inlinable
    public func endBatch<Sink: WindowResultSink>(into sink: inout Sink) {
        core.endBatchCore()
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// Takes note of a reading that a restored device state already covers (input read again
    /// after a restore, up to the position the device's state was saved at).
    ///
    /// The device is left alone; with `per: partition` the partition's watermark still follows
    /// the reading, which may close other devices' windows. With `per: device` this does nothing.
    @inlinable
    public func observeCovered<Sink: WindowResultSink>(_ reading: Reading, into sink: inout Sink) {
        core.observeCovered(reading)
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// Emits what processing time makes due: periodic early results (`emit: every`) and the
    /// open windows of devices silent for the idle timeout (without moving their watermarks).
    ///
    /// Before ``nextDeadline`` this returns at once, emits nothing and changes nothing, so a
    /// process hosting many engines can call it on all of them often.
    @inlinable
    public func advance<Sink: WindowResultSink>(processingTime now: Int64, into sink: inout Sink) {
        guard core.isDue(now) else { return }
        core.advanceCore(processingTime: now)
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// Closes every window of every device, as at the end of a finite input (batch). Later
    /// readings are all too late.
    @inlinable
    public func closeAll<Sink: WindowResultSink>(into sink: inout Sink) {
        core.closeAllCore()
        if !output.entries.isEmpty { output.drain(into: &sink) }
    }

    /// The processing time from which ``advance(processingTime:into:)`` has something to do:
    /// the next `emit: every` period or the earliest idle timeout. `Int64.min` while an `every`
    /// period has not started (the first `advance` starts it); nil when nothing is pending.
    /// Readings move it (each restarts its device's idle timeout), so read it after processing.
    package var nextDeadline: Int64? { core.nextDeadline }

    /// Bytes the comparisons' history holds for all devices (blocks in use), for benchmarks.
    package var historyBytes: Int {
        core.states.reduce(0) { $0 + ($1.hasComparisons ? $1.history.bytesInUse : 0) }
    }

    /// The watermark a reading of `device` is judged against now.
    package func watermark(of device: DeviceID) -> Int64? {
        let d = Int(device.index)
        guard d < core.deviceWatermark.count else { return nil }
        let w = core.effectiveWatermark(d)
        return w == Self.noWatermark ? nil : w
    }
}
