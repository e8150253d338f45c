// One app's path from message bytes to output records: decode, record triggers, windows,
// series triggers, encode. The same code serves `tidemark run` and `tidemark batch`, which
// is why their results are identical.
import Streaming

/// What happened to one input record.
public enum RecordOutcome: Sendable, Equatable {
    case accepted
    case late(LateReason)
}

/// Counts since the processor started; pipelines publish them as metrics.
public struct AppCounts: Sendable, Equatable {
    public var recordsIn = 0
    public var resultsOut = 0
    public var triggersOut = 0
    public var late = 0
    public var malformed = 0
    /// Readings further ahead of the processing clock than `watermark.max_future`.
    public var future = 0

    mutating func add(_ other: AppCounts) {
        recordsIn += other.recordsIn
        resultsOut += other.resultsOut
        triggersOut += other.triggersOut
        late += other.late
        malformed += other.malformed
        future += other.future
    }

    func subtracting(_ other: AppCounts) -> AppCounts {
        AppCounts(
            recordsIn: recordsIn - other.recordsIn, resultsOut: resultsOut - other.resultsOut,
            triggersOut: triggersOut - other.triggersOut, late: late - other.late, malformed: malformed - other.malformed,
            future: future - other.future)
    }
}

/// Runs one app over records handed to it one at a time, in arrival order.
///
/// Not thread-safe: one processor belongs to one pipeline thread.
public final class AppProcessor {
    public let app: AppDefinition
    public private(set) var counts = AppCounts()

    private var decoder: RecordDecoder
    private var devices = DeviceTable()
    private let engine: WindowEngine
    private var encoder = OutputEncoder()
    private let seriesLayouts: [SeriesResultLayout]
    private let recordTriggers: [(condition: TriggerCondition, layout: TriggerEventLayout, output: String)]
    /// Per series, its `on:` triggers.
    private let seriesTriggers: [[(condition: TriggerCondition, layout: TriggerEventLayout, output: String)]]
    /// The largest event time handed to the engine.
    private var maxEventTime: Int64?
    /// A series trigger's slots: the aggregates, then start, end and revision.
    private var resultSlots: [Double]

    public init(app: AppDefinition) throws(WindowEngineError) {
        self.app = app
        let triggersByRecord = app.triggers.filter { $0.source == .records }
        decoder = RecordDecoder(schema: RecordSchema(app: app), collectsOtherMembers: !triggersByRecord.isEmpty)
        engine = try WindowEngine(
            series: app.series.map(\.spec), watermark: app.watermark, fieldCount: app.numericFields.count)
        seriesLayouts = app.series.map { SeriesResultLayout(app: app.name, series: $0.spec) }
        recordTriggers = triggersByRecord.map {
            ($0.condition, TriggerEventLayout(app: app.name, trigger: $0.name), $0.output)
        }
        seriesTriggers = app.series.indices.map { index in
            app.triggers.filter { $0.source == .series(index: index) }.map {
                ($0.condition, TriggerEventLayout(app: app.name, trigger: $0.name), $0.output)
            }
        }
        let widest = app.series.map(\.spec.aggregates.count).max() ?? 0
        resultSlots = Array(repeating: .nan, count: widest + SeriesDefinition.windowFields.count)
    }

    /// Processes one message.
    ///
    /// - Parameters:
    ///   - value: the message value; nil for a tombstone (which is malformed here).
    ///   - key: the message key (the device id when the app reads it from there).
    ///   - timestamp: the message timestamp (the event time when the app reads it from there).
    ///   - now: processing time, epoch milliseconds.
    @discardableResult
    public func process<Sink: OutputSink>(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64?, partition: Int32,
        now: Int64, into sink: Sink
    ) -> RecordOutcome {
        counts.recordsIn += 1
        let bytes = value ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if let failure = decoder.decode(value: bytes, key: key, timestamp: timestamp) {
            return reject(value: value, key: key, .malformed(failure), into: sink)
        }
        // Before anything reads the reading: a clock far ahead would move the device's
        // watermark, and every later, right reading of the device would be too late.
        if let maxFuture = app.maxFuture, Self.isAhead(decoder.time, of: now, by: maxFuture) {
            return reject(value: value, key: key, .future(maxFuture: maxFuture), into: sink)
        }
        let device = decoder.internDevice(in: &devices)
        if !recordTriggers.isEmpty { fireRecordTriggers(record: bytes, into: sink) }
        var forwarder = ResultForwarder(processor: self, sink: sink)
        let time = decoder.time
        let admission = decoder.withNumbers { fields in
            engine.process(
                Reading(device: device, time: time, partition: partition, fields: fields), now: now,
                into: &forwarder)
        }
        // The engine's watermarks follow every readable event time, too late or not.
        if admission != .invalidTime { maxEventTime = max(maxEventTime ?? time, time) }
        switch admission {
        case .accepted: return .accepted
        case .tooLate: return reject(value: value, key: key, .tooLate, into: sink)
        case .invalidTime: return reject(value: value, key: key, .timeOutOfRange, into: sink)
        }
    }

    /// Ends a batch of records: every window that late records (with `emit: updates`, any
    /// record) revised since the last batch end is emitted once, with its revision now.
    /// Where batches end decides which revisions appear, never what a revision holds.
    public func endBatch<Sink: OutputSink>(into sink: Sink) {
        var forwarder = ResultForwarder(processor: self, sink: sink)
        engine.endBatch(into: &forwarder)
    }

    /// Lets processing time pass: idle devices are flushed and `every` periods fire.
    public func advance<Sink: OutputSink>(now: Int64, into sink: Sink) {
        var forwarder = ResultForwarder(processor: self, sink: sink)
        engine.advance(processingTime: now, into: &forwarder)
    }

    /// Closes every window, as at the end of a file.
    public func closeAll<Sink: OutputSink>(into sink: Sink) {
        var forwarder = ResultForwarder(processor: self, sink: sink)
        engine.closeAll(into: &forwarder)
    }

    /// The most advanced watermark of any device (or partition), if any record was seen:
    /// the largest event time the engine took, less the out-of-order bound.
    public var maxWatermark: Int64? { maxEventTime.map { $0 - app.watermark.outOfOrder } }

    /// Whether event time `time` is more than `limit` ahead of processing time `now`, without
    /// overflowing on any pair of times.
    @inline(__always)
    static func isAhead(_ time: Int64, of now: Int64, by limit: Int64) -> Bool {
        guard time > now else { return false }
        let (ahead, overflow) = time.subtractingReportingOverflow(now)
        return overflow || ahead > limit
    }

    private func reject<Sink: OutputSink>(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, _ reason: LateReason, into sink: Sink
    ) -> RecordOutcome {
        switch reason {
        case .tooLate: counts.late += 1
        case .future: counts.future += 1
        case .malformed, .timeOutOfRange: counts.malformed += 1
        }
        sink.sendLate(topic: app.lateOutput, key: key, value: value, reason: reason)
        return .late(reason)
    }

    private func fireRecordTriggers<Sink: OutputSink>(record: UnsafeRawBufferPointer, into sink: Sink) {
        decoder.numbers.withUnsafeBufferPointer { numbers in
            decoder.withStringFields(in: record) { strings in
                for trigger in recordTriggers where trigger.condition.evaluate(numbers: numbers, strings: strings) {
                    decoder.device.withUnsafeBytes { device in
                        encoder.encodeRecordTriggerEvent(
                            trigger.layout, device: device, time: decoder.time, record: record,
                            members: decoder.otherMembers)
                        deliver(topic: trigger.output, key: device, windowEnd: nil, into: sink)
                    }
                    counts.triggersOut += 1
                }
            }
        }
    }

    /// Encodes one emitted window and fires the triggers on its series.
    fileprivate func emit<Sink: OutputSink>(_ result: WindowResult, into sink: Sink) {
        var name = devices.name(of: result.device)
        name.withUTF8 { nameBytes in
            let device = UnsafeRawBufferPointer(nameBytes)
            let layout = seriesLayouts[result.series]
            encoder.encodeSeriesResult(
                layout, device: device, start: result.start, end: result.end, revision: Int(result.revision),
                values: result.values)
            deliver(topic: app.series[result.series].output, key: device, windowEnd: result.end, into: sink)
            counts.resultsOut += 1
            let triggers = seriesTriggers[result.series]
            guard !triggers.isEmpty else { return }
            let aggregates = result.values.count
            for index in 0..<aggregates { resultSlots[index] = result.values[index] }
            resultSlots[aggregates] = Double(result.start)
            resultSlots[aggregates + 1] = Double(result.end)
            resultSlots[aggregates + 2] = Double(result.revision)
            resultSlots.withUnsafeBufferPointer { slots in
                for trigger in triggers where trigger.condition.evaluate(numbers: slots) {
                    encoder.encodeSeriesTriggerEvent(
                        trigger.layout, series: layout, device: device, start: result.start, end: result.end,
                        revision: Int(result.revision), values: result.values)
                    deliver(topic: trigger.output, key: device, windowEnd: nil, into: sink)
                    counts.triggersOut += 1
                }
            }
        }
    }

    private func deliver<Sink: OutputSink>(topic: String, key: UnsafeRawBufferPointer, windowEnd: Int64?, into sink: Sink) {
        encoder.bytes.withUnsafeBytes { sink.send(topic: topic, key: key, value: $0, windowEnd: windowEnd) }
    }
}

/// Hands the engine's results back to the processor that owns the engine.
private struct ResultForwarder<Sink: OutputSink>: WindowResultSink {
    // unowned(unsafe): the forwarder lives only for one engine call made by this processor,
    // whose caller holds the sink; counted references would cost a retain and a release
    // of each per record.
    unowned(unsafe) let processor: AppProcessor
    unowned(unsafe) let sink: Sink

    mutating func emit(_ result: WindowResult) {
        processor.emit(result, into: sink)
    }
}
