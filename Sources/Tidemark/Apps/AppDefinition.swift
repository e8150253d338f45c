// The typed form of one app file: what to read, how to window it, which triggers to
// evaluate and where each output goes. Built by `AppLoader`; consumed by pipelines.
import Streaming

/// One app, as loaded from a YAML app file.
public struct AppDefinition: Sendable, Equatable {
    /// The app's unique name; part of every output record.
    public var name: String
    /// The file this app was loaded from.
    public var sourceFile: String
    public var input: InputSpec
    public var watermark: WatermarkSpec
    /// Every field read as a number, in slot order: first the fields of aggregates (series
    /// order, then aggregate order), then the further fields record triggers read.
    /// `AggregateSpec.field` and record-trigger conditions index into this list.
    public var numericFields: [String]
    /// Fields record triggers compare with string literals, in slot order.
    public var stringFields: [String]
    public var series: [SeriesDefinition]
    public var triggers: [TriggerDefinition]
    /// The topic for late and malformed records. Defaults to `<app>-late` when the file has
    /// no `late:` section, so nothing is ever dropped silently.
    public var lateOutput: String
    /// `watermark.max_future`: how far (ms) a reading's event time may be ahead of the
    /// processing clock; a reading further ahead goes to the late topic as `future` and moves
    /// no watermark. nil (`off`): no limit.
    public var maxFuture: Int64?

    /// One day: a device clock that is wrong by more is wrong, not early.
    public static let defaultMaxFuture: Int64 = 86_400_000

    public init(
        name: String, sourceFile: String, input: InputSpec, watermark: WatermarkSpec,
        numericFields: [String], stringFields: [String], series: [SeriesDefinition],
        triggers: [TriggerDefinition], lateOutput: String, maxFuture: Int64? = AppDefinition.defaultMaxFuture
    ) {
        self.name = name
        self.sourceFile = sourceFile
        self.input = input
        self.watermark = watermark
        self.numericFields = numericFields
        self.stringFields = stringFields
        self.series = series
        self.triggers = triggers
        self.lateOutput = lateOutput
        self.maxFuture = maxFuture
    }

    /// Every topic the app writes: series outputs, trigger outputs and the late topic.
    public var outputTopics: [String] {
        var seen: Set<String> = []
        return (series.map(\.output) + triggers.map(\.output) + [lateOutput]).filter { seen.insert($0).inserted }
    }

    /// Numeric slots that some aggregate reads. A record whose value for one of these is
    /// present but not a number is malformed; other numeric slots read non-numbers as null.
    public var aggregatedFieldSlots: Set<Int> {
        Set(series.flatMap { $0.spec.aggregates.compactMap(\.field) })
    }
}

/// Where an app's records come from and how to read device and event time.
public struct InputSpec: Sendable, Equatable {
    /// The encoding of message values. Only JSON objects for now.
    public enum Format: String, Sendable, Equatable {
        case json
    }

    public var topic: String
    public var format: Format
    /// The field holding the device id; nil: the message key.
    public var deviceField: String?
    /// The event-time field; nil: the message timestamp.
    ///
    /// The field's value is read per record: a JSON number >= 1e11 is epoch milliseconds,
    /// a smaller number is epoch seconds (a fraction gives milliseconds), a JSON string is
    /// RFC 3339 (`2025-11-28T00:00:12.345Z`, or with a `+01:00` offset).
    public var timeField: String?

    public init(topic: String, format: Format = .json, deviceField: String? = nil, timeField: String? = nil) {
        self.topic = topic
        self.format = format
        self.deviceField = deviceField
        self.timeField = timeField
    }
}

/// One windowed series and the topic its results go to.
public struct SeriesDefinition: Sendable, Equatable {
    public var spec: SeriesSpec
    public var output: String

    public init(spec: SeriesSpec, output: String) {
        self.spec = spec
        self.output = output
    }

    /// The fields a series trigger (`on:` this series) can read, in slot order: the
    /// aggregates in config order, then `start`, `end` and `revision`, then per comparison its
    /// aggregates as `comparison.aggregate` (e.g. `last_week.mean`).
    public var resultFields: [String] {
        let aggregates = spec.aggregates.map(\.name)
        return aggregates + SeriesDefinition.windowFields
            + spec.comparisons.flatMap { comparison in aggregates.map { "\(comparison.name).\($0)" } }
    }

    /// Window fields appended after the aggregates in a series result's slots.
    public static let windowFields = ["start", "end", "revision"]
}

/// One trigger: a condition over records or over one series' results.
public struct TriggerDefinition: Sendable, Equatable {
    /// What a trigger's condition is evaluated on.
    public enum Source: Sendable, Equatable {
        /// Every decoded record; numeric slots are `AppDefinition.numericFields`,
        /// string slots `AppDefinition.stringFields`.
        case records
        /// Every emitted result of `series[index]`; slots are `SeriesDefinition.resultFields`.
        case series(index: Int)
    }

    public var name: String
    public var source: Source
    public var condition: TriggerCondition
    public var output: String

    public init(name: String, source: Source, condition: TriggerCondition, output: String) {
        self.name = name
        self.source = source
        self.condition = condition
        self.output = output
    }
}
