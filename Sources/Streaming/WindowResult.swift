// What the engine emits: one revision of one window's aggregates, handed to a caller-supplied
// sink by borrowing (the values live in the engine's reusable output buffer).

/// When an emission was made relative to its window's close, as Beam's `PaneInfo.Timing`.
///
/// Only ``early`` results depend on processing time (idle timeouts, `every` periods, where
/// batches end with `emit: updates`); an ``onTime`` or ``late`` result is a function of the
/// input, so one `(series, device, start, revision, timing)` that is not early always has
/// the same values.
public enum ResultTiming: UInt8, Sendable {
    /// Before the window closed: an idle flush, an `every` period, an `emit: updates` change.
    /// Provisional: several early results of one window may share a revision, and the result
    /// at close carries that revision too.
    case early
    /// As the window closed (its watermark reached its end), even if nothing changed since an
    /// early result; every window that closes with data has one.
    case onTime
    /// A revision after the window closed: late records, or a revised window its comparisons
    /// read.
    case late

    /// The name in output records: `early`, `on_time`, `late`. Static, so its bytes are read
    /// without allocating.
    public var name: StaticString {
        switch self {
        case .early: "early"
        case .onTime: "on_time"
        case .late: "late"
        }
    }
}

/// One emission of one window of one series for one device.
///
/// `(series, device, start)` identifies the window; a higher `revision` supersedes a lower
/// one, and at equal revisions a result that is not ``ResultTiming/early`` supersedes an
/// early (provisional) one. The revision is a function of the input: the same
/// `(series, device, start, revision, timing)` with timing on time or late always has the
/// same values, comparisons included, however batches end and whatever restarts happen.
/// `values` holds the aggregates in the order of the series' ``AggregateSpec``s, NaN meaning
/// null; `comparisons` the series' ``ComparisonSpec``s; both are only valid during
/// ``WindowResultSink/emit(_:)``.
public struct WindowResult {
    /// Index of the series in the engine's `series` array.
    public var series: Int
    public var device: DeviceID
    public var start: Int64
    public var end: Int64
    public var revision: Int64
    public var timing: ResultTiming
    /// True when this session's key disappeared (a late record merged the session into an
    /// earlier one, or moved its start): the window `(series, device, start)` no longer
    /// exists, and `values` are all null.
    public var isRetraction: Bool
    public var values: UnsafeBufferPointer<Double>
    /// Per comparison of the series, in spec order, `1 + values.count` numbers: the records the
    /// compared window (or windows) hold, 0 where the device has none (the comparison is null,
    /// and so are its aggregates), then their aggregates as in `values`. Empty for a series
    /// without comparisons.
    public var comparisons: UnsafeBufferPointer<Double>

    @inlinable
    public init(
        series: Int, device: DeviceID, start: Int64, end: Int64, revision: Int64, timing: ResultTiming, isRetraction: Bool,
        values: UnsafeBufferPointer<Double>, comparisons: UnsafeBufferPointer<Double> = UnsafeBufferPointer(start: nil, count: 0)
    ) {
        self.series = series
        self.device = device
        self.start = start
        self.end = end
        self.revision = revision
        self.timing = timing
        self.isRetraction = isRetraction
        self.values = values
        self.comparisons = comparisons
    }

    /// The aggregate at `index`, nil when null.
    @inlinable
    public func value(_ index: Int) -> Double? {
        let value = values[index]
        return value.isNaN ? nil : value
    }

    /// The aggregates of comparison `index` (as `values`), nil when the device has no such window.
    @inlinable
    public func comparison(_ index: Int) -> UnsafeBufferPointer<Double>? {
        let width = values.count + 1
        guard comparisons[index * width] > 0 else { return nil }
        return UnsafeBufferPointer(rebasing: comparisons[index * width + 1 ..< (index + 1) * width])
    }

    /// The number of comparisons the result carries.
    @inlinable
    public var comparisonCount: Int { comparisons.count / (values.count + 1) }
}

/// Receives the engine's emissions, in the engine's deterministic order.
///
/// The engine's entry points are generic over the sink, so a concrete sink is called directly
/// (and inlined), never through an existential.
public protocol WindowResultSink {
    mutating func emit(_ result: WindowResult)
}

/// An owned copy of a ``WindowResult``, for tests, batch runs and anything that keeps results.
package struct EmittedWindow: Sendable, Equatable, CustomStringConvertible {
    package var series: Int
    package var device: DeviceID
    package var start: Int64
    package var end: Int64
    package var revision: Int64
    package var timing: ResultTiming
    package var isRetraction: Bool
    /// Aggregates in spec order; nil is null.
    package var values: [Double?]
    /// Per comparison in spec order, its aggregates, or nil where the device has no such window.
    package var comparisons: [[Double?]?]

    package init(
        series: Int, device: DeviceID, start: Int64, end: Int64, revision: Int64, timing: ResultTiming = .onTime,
        isRetraction: Bool = false, values: [Double?], comparisons: [[Double?]?] = []
    ) {
        self.series = series
        self.device = device
        self.start = start
        self.end = end
        self.revision = revision
        self.timing = timing
        self.isRetraction = isRetraction
        self.values = values
        self.comparisons = comparisons
    }

    package init(_ result: WindowResult) {
        self.init(
            series: result.series, device: result.device, start: result.start, end: result.end,
            revision: result.revision, timing: result.timing, isRetraction: result.isRetraction,
            values: result.values.map { $0.isNaN ? nil : $0 },
            comparisons: (0 ..< result.comparisonCount).map { index in
                result.comparison(index).map { $0.map { $0.isNaN ? nil : $0 } }
            })
    }

    /// Equality treats the values' bit patterns as the truth (so -0 and +0 differ), since the
    /// batch promise is exact.
    package static func == (a: EmittedWindow, b: EmittedWindow) -> Bool {
        func bits(_ values: [Double?]) -> [UInt64?] { values.map { $0?.bitPattern } }
        return a.series == b.series && a.device == b.device && a.start == b.start && a.end == b.end
            && a.revision == b.revision && a.timing == b.timing && a.isRetraction == b.isRetraction
            && bits(a.values) == bits(b.values) && a.comparisons.map { $0.map(bits) } == b.comparisons.map { $0.map(bits) }
    }

    package var description: String {
        func list(_ values: [Double?]) -> String { values.map { $0.map { "\($0)" } ?? "null" }.joined(separator: ", ") }
        let comparisons = comparisons.map { $0.map { " [\(list($0))]" } ?? " null" }.joined()
        return "s\(series) d\(device.index) [\(start), \(end)) r\(revision) \(timing.name)\(isRetraction ? " retracted" : "") [\(list(values))]\(comparisons)"
    }
}

/// A sink that keeps every emission, in order.
package struct CollectingSink: WindowResultSink, Sendable {
    package var results: [EmittedWindow] = []

    package init() {}

    package mutating func emit(_ result: WindowResult) { results.append(EmittedWindow(result)) }
}

/// A sink that drops everything (benchmarks, warm-up).
public struct DiscardingSink: WindowResultSink, Sendable {
    public var count = 0

    package init() {}

    @inlinable
    public mutating func emit(_ result: WindowResult) { count &+= 1 }
}

/// Emissions queued by the engine's non-generic core until the generic entry point hands them
/// to the sink; reused, so emitting allocates nothing in steady state.
@usableFromInline
final class PendingResults {
    @usableFromInline
    struct Entry {
        @usableFromInline var series: Int32
        @usableFromInline var isRetraction: Bool
        @usableFromInline var timing: ResultTiming
        @usableFromInline var device: DeviceID
        @usableFromInline var start: Int64
        @usableFromInline var end: Int64
        @usableFromInline var revision: Int64
        @usableFromInline var offset: Int
        @usableFromInline var count: Int
        /// Comparison numbers after the aggregates (see ``WindowResult/comparisons``).
        @usableFromInline var comparisonCount: Int = 0
    }

    @usableFromInline var entries: [Entry] = []
    @usableFromInline var values: [Double] = []

    init() {}

    @inlinable
    func drain<Sink: WindowResultSink>(into sink: inout Sink) {
        values.withUnsafeBufferPointer { values in
            for entry in entries {
                sink.emit(
                    WindowResult(
                        series: Int(entry.series), device: entry.device, start: entry.start, end: entry.end,
                        revision: entry.revision, timing: entry.timing, isRetraction: entry.isRetraction,
                        values: UnsafeBufferPointer(rebasing: values[entry.offset ..< entry.offset + entry.count]),
                        comparisons: UnsafeBufferPointer(
                            rebasing: values[entry.offset + entry.count ..< entry.offset + entry.count + entry.comparisonCount])))
            }
        }
        entries.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }
}
