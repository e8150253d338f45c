// The vocabulary an app uses to ask the engine for results: windows, watermarks,
// aggregates, emission. Times and durations are epoch/elapsed milliseconds; every
// window is aligned to the Unix epoch, in UTC.

/// How records are grouped into windows by event time.
package enum WindowSpec: Sendable, Equatable {
    /// `[floor(t/size)*size, +size)`.
    case tumbling(size: Int64)
    /// Every `[k*slide, k*slide + size)` containing t; `size` is a multiple of `slide`.
    case hopping(size: Int64, slide: Int64)
    /// Per device, records closer than `gap` merge into one window.
    case session(gap: Int64)
}

/// Whose maximum event time a watermark follows.
package enum WatermarkScope: Sendable, Equatable {
    case device
    case partition
}

/// Bounded out-of-orderness and idle flushing.
package struct WatermarkSpec: Sendable, Equatable {
    package var scope: WatermarkScope
    /// The watermark trails the maximum event time seen by this much.
    package var outOfOrder: Int64
    /// Processing time after which a silent device has its open windows emitted; nil: never.
    package var idle: Int64?

    package init(scope: WatermarkScope = .device, outOfOrder: Int64 = 0, idle: Int64? = nil) {
        self.scope = scope
        self.outOfOrder = outOfOrder
        self.idle = idle
    }
}

/// When a window's result is emitted.
package enum EmitPolicy: Sendable, Equatable {
    /// When the window closes (revision 0, on time), then once per batch that brings late
    /// records (revision: the late records applied, to the window or, after it closed, to the
    /// windows its comparisons read; late).
    case final
    /// After every change, once per batch (revision: the records applied - 1): early before
    /// the window closes, then on time at its close (even unchanged), then late.
    case updates
    /// Early results every period of processing time (milliseconds), provisional and at the
    /// window's current revision, then as ``final``.
    case every(Int64)
}

/// An aggregate function over one numeric field (or over records, for `count`).
public enum AggregateFunction: Sendable, Equatable {
    case count
    case sum
    case mean
    case min
    case max
    /// Sample standard deviation.
    case stddev
    /// The value with the smallest event time.
    case first
    /// The value with the largest event time.
    case last
    /// A percentile from 1 to 99, from a mergeable sketch.
    case percentile(Int)
}

/// One named aggregate of a series, e.g. `mean: mean(temperature)`.
package struct AggregateSpec: Sendable, Equatable {
    /// The key of this aggregate in output records.
    package var name: String
    package var function: AggregateFunction
    /// Index of the input field slot this aggregate reads; nil for `count()`.
    package var field: Int?

    package init(name: String, function: AggregateFunction, field: Int?) {
        self.name = name
        self.function = function
        self.field = field
    }
}

/// One comparison of a tumbling series' windows with the same device's earlier windows,
/// e.g. `yesterday: {offset: 1d}`. Each result then carries the series' aggregates over the
/// earlier window(s) it names, or null where the device has none.
package struct ComparisonSpec: Sendable, Equatable {
    /// Which earlier windows a window is compared with; durations are positive multiples of
    /// the window size.
    package enum Reach: Sendable, Equatable {
        /// The window that started this long before.
        case offset(Int64)
        /// The windows in `[start - span, start)`, merged as one window over the span would be.
        case over(Int64)

        /// The offset or span, in milliseconds.
        package var duration: Int64 {
            switch self {
            case .offset(let duration), .over(let duration): duration
            }
        }
    }

    /// The result field holding the comparison.
    package var name: String
    package var reach: Reach

    package init(name: String, reach: Reach) {
        self.name = name
        self.reach = reach
    }
}

/// One windowed series of an app.
package struct SeriesSpec: Sendable, Equatable {
    package var name: String
    package var window: WindowSpec
    /// How long after a window closes (in watermark time) late records still revise it.
    package var allowedLateness: Int64
    package var emit: EmitPolicy
    package var aggregates: [AggregateSpec]
    /// Comparisons with the device's earlier windows (tumbling windows only), in result order.
    package var comparisons: [ComparisonSpec]

    package init(
        name: String, window: WindowSpec, allowedLateness: Int64 = 0, emit: EmitPolicy = .final,
        aggregates: [AggregateSpec], comparisons: [ComparisonSpec] = []
    ) {
        self.name = name
        self.window = window
        self.allowedLateness = allowedLateness
        self.emit = emit
        self.aggregates = aggregates
        self.comparisons = comparisons
    }
}
