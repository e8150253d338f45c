// The typed form of one app file: what to read, how to window it, which triggers to
// evaluate and where each output goes. Built by `AppLoader`; run by `AppProcessor` in `run`, `batch` and `replay`.
import Streaming

/// One app, as loaded from a YAML app file.
package struct AppDefinition: Sendable, Equatable {
    /// The app's unique name; part of every output record.
    package var name: String
    /// The file this app was loaded from.
    package var sourceFile: String
    package var input: InputSpec
    package var watermark: WatermarkSpec
    /// Every field read as a number, by its ``FieldPath/spelling``, in slot order: first the
    /// fields of aggregates (series order, then aggregate order), then the further fields
    /// record triggers read.
    /// `AggregateSpec.field` and record-trigger conditions index into this list.
    package var numericFields: [String]
    /// Fields record triggers compare with string literals, in slot order.
    package var stringFields: [String]
    package var series: [SeriesDefinition]
    package var triggers: [TriggerDefinition]
    /// The topic for late and malformed records. Defaults to `<app>-late` when the file has
    /// no `late:` section, so nothing is ever dropped silently.
    package var lateOutput: String
    /// `watermark.max_future`: how far (ms) a reading's event time may be ahead of the
    /// processing clock; a reading further ahead goes to the late topic as `future` and moves
    /// no watermark. nil (`off`): no limit.
    package var maxFuture: Int64?

    /// One day: a device clock that is wrong by more is wrong, not early.
    package static let defaultMaxFuture: Int64 = 86_400_000

    package init(
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
    package var outputTopics: [String] {
        var seen: Set<String> = []
        return (series.map(\.output) + triggers.map(\.output) + [lateOutput]).filter { seen.insert($0).inserted }
    }

    /// Numeric slots that some aggregate reads. A record whose value for one of these is
    /// present but not a number is malformed; other numeric slots read non-numbers as null.
    package var aggregatedFieldSlots: Set<Int> {
        Set(series.flatMap { $0.spec.aggregates.compactMap(\.field) })
    }
}

/// Where an app's records come from and how to read device and event time.
package struct InputSpec: Sendable, Equatable {
    /// The encoding of message values. Only JSON objects for now.
    package enum Format: String, Sendable, Equatable {
        case json
    }

    package var topic: String
    package var format: Format
    /// The field holding the device id, by its ``FieldPath/spelling``; nil: the message key.
    package var deviceField: String?
    /// The event-time field, by its ``FieldPath/spelling``; nil: the message timestamp.
    ///
    /// The field's value is read per record: a JSON string is RFC 3339
    /// (`2025-11-28T00:00:12.345Z`, or with a `+01:00` offset); a JSON number is epoch
    /// time in `timeUnit`, or without one, >= 1e11 epoch milliseconds, a smaller
    /// non-negative number epoch seconds (a fraction gives milliseconds), and a negative
    /// number malformed.
    package var timeField: String?
    /// `input.time_unit`: the unit of a numeric event time; nil: told by its magnitude.
    package var timeUnit: EpochUnit?
    /// Where the app begins reading a partition it has no state for yet; nil: where the
    /// group stands (the committed offset, or where the other apps on the topic read).
    package var start: InputStart?
    /// What the message key holds: with `.any`, records are repartitioned by device.
    package var key: InputKey
    /// The topic the records were first written to, when `topic` is its repartition topic
    /// (set by `run` for apps with `key: any`).
    package var repartitionedFrom: String?

    package init(
        topic: String, format: Format = .json, deviceField: String? = nil, timeField: String? = nil,
        timeUnit: EpochUnit? = nil, start: InputStart? = nil, key: InputKey = .device
    ) {
        self.topic = topic
        self.format = format
        self.deviceField = deviceField
        self.timeField = timeField
        self.timeUnit = timeUnit
        self.start = start
        self.key = key
    }

    /// Whether `run` reads the app's records through the input topic's repartition topic.
    package var repartitions: Bool { key == .any && deviceField != nil }
}

/// `input.key`: whether the message key is the device id.
///
/// A window is exact only if all of a device's readings reach one state, so one partition.
/// With `device` (the default) the key is the device id, and Kafka's partitioners put all of
/// a device's records in one partition. With `any` (a null key, a gateway, an MQTT topic…)
/// `run` writes every record again, keyed by its device, to `<group>-<topic>-repartition`,
/// and the app reads it from there.
package enum InputKey: String, Sendable, Equatable {
    case device
    case any
}

/// `input.start`: where an app with no state yet begins reading its input.
package enum InputStart: Sendable, Equatable {
    /// The oldest record each partition retains.
    case earliest
    /// The end of each partition: only records that arrive from now on.
    case latest
    /// The first record whose timestamp is at or after this long before now (milliseconds).
    case ago(Int64)
}

/// One windowed series and the topic its results go to.
package struct SeriesDefinition: Sendable, Equatable {
    package var spec: SeriesSpec
    package var output: String

    package init(spec: SeriesSpec, output: String) {
        self.spec = spec
        self.output = output
    }

    /// The fields a series trigger (`on:` this series) can read, in slot order: the
    /// aggregates in config order, then `start`, `end` and `revision`, then per comparison its
    /// aggregates as `comparison.aggregate` (e.g. `last_week.mean`).
    package var resultFields: [String] {
        let aggregates = spec.aggregates.map(\.name)
        return aggregates + SeriesDefinition.windowFields
            + spec.comparisons.flatMap { comparison in aggregates.map { "\(comparison.name).\($0)" } }
    }

    /// Window fields appended after the aggregates in a series result's slots.
    package static let windowFields = ["start", "end", "revision"]

    /// The string fields a series trigger can compare with a string literal, in slot order:
    /// `timing` (`"early"`, `"on_time"`, `"late"`).
    package static let stringResultFields = ["timing"]
}

/// One trigger: a condition over records or over one series' results.
package struct TriggerDefinition: Sendable, Equatable {
    /// What a trigger's condition is evaluated on.
    package enum Source: Sendable, Equatable {
        /// Every decoded record; numeric slots are `AppDefinition.numericFields`,
        /// string slots `AppDefinition.stringFields`.
        case records
        /// Every emitted result of `series[index]`; slots are `SeriesDefinition.resultFields`.
        case series(index: Int)
    }

    package var name: String
    package var source: Source
    package var condition: TriggerCondition
    package var output: String

    package init(name: String, source: Source, condition: TriggerCondition, output: String) {
        self.name = name
        self.source = source
        self.condition = condition
        self.output = output
    }
}
