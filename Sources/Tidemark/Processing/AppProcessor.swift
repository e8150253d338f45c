// One app's path from message bytes to output records: decode, record triggers, windows,
// series triggers, encode. The same code serves `tidemark run` and `tidemark batch`, which
// is why their results are identical.
import Streaming

/// What happened to one input record.
package enum RecordOutcome: Sendable, Equatable {
    case accepted
    case late(LateReason)
    /// Not this app's to take: its partition's state is not held here, or covers the record.
    case skipped
    /// Already applied to the device's state before a restart; read again, not applied twice.
    case covered
}

/// Counts since the processor started; `run` publishes them as metrics.
package struct AppCounts: Sendable, Equatable {
    package var recordsIn = 0
    package var resultsOut = 0
    package var triggersOut = 0
    package var late = 0
    package var malformed = 0
    /// Readings further ahead of the processing clock than `watermark.max_future`.
    package var future = 0
    /// Records read with `key: device` whose message key is not their device id: the input is
    /// not keyed by device after all, and a device's windows may be split over partitions.
    package var notKeyedByDevice = 0

    mutating func add(_ other: AppCounts) {
        recordsIn += other.recordsIn
        resultsOut += other.resultsOut
        triggersOut += other.triggersOut
        late += other.late
        malformed += other.malformed
        future += other.future
        notKeyedByDevice += other.notKeyedByDevice
    }

    func subtracting(_ other: AppCounts) -> AppCounts {
        AppCounts(
            recordsIn: recordsIn - other.recordsIn, resultsOut: resultsOut - other.resultsOut,
            triggersOut: triggersOut - other.triggersOut, late: late - other.late, malformed: malformed - other.malformed,
            future: future - other.future, notKeyedByDevice: notKeyedByDevice - other.notKeyedByDevice)
    }
}

/// Runs one app over records handed to it one at a time, in arrival order, with a state of
/// its own for each input partition.
///
/// Not thread-safe: a processor belongs to the shard that steps it (one thread at a time).
package final class AppProcessor {
    package let app: AppDefinition
    package private(set) var counts = AppCounts()

    private var decoder: RecordDecoder
    private var encoder = OutputEncoder()
    private let seriesLayouts: [SeriesResultLayout]
    private let recordTriggers: [(condition: TriggerCondition, layout: TriggerEventLayout, output: String)]
    /// Per series, its `on:` triggers.
    private let seriesTriggers: [[(condition: TriggerCondition, layout: TriggerEventLayout, output: String)]]
    /// A series trigger's slots: the aggregates, then start, end and revision, then each
    /// comparison's aggregates (NaN where it is null); its one string slot is `timing`.
    private var resultSlots: [Double]
    /// Per input partition held, its state.
    private var partitions: [Int32: PartitionState] = [:]
    /// Whether a record of a partition without state starts one (batch, one file) rather than
    /// being skipped (run, where a partition's state is restored before it is processed).
    private let startsPartitions: Bool
    /// Whether records come from a repartition topic, each value after its origin.
    private let readsRepartitioned: Bool
    /// Whether each record's key is compared with its device id (`key: device` with a device
    /// field, as `run` reads it; a file has no keys).
    private let checksKeys: Bool
    /// The partition of the last record and its state (records come in runs of one
    /// partition), until the batch ends. Unretained: `partitions` owns it, and a record's
    /// path spares a retain and a release.
    private var currentPartition: Int32 = -1
    private var current: Unmanaged<PartitionState>?
    /// The states that took records since the last end of a batch.
    private var batched: [PartitionState] = []

    /// - Parameter startsPartitions: a record of a partition with no state starts a fresh one
    ///   (`tidemark batch`); otherwise such a record is skipped (`install(_:partition:)` first).
    package init(app: AppDefinition, startsPartitions: Bool = true) throws(WindowEngineError) {
        self.app = app
        self.startsPartitions = startsPartitions
        readsRepartitioned = app.input.repartitionedFrom != nil
        checksKeys = !startsPartitions && app.input.deviceField != nil && app.input.key == .device
        let triggersByRecord = app.triggers.filter { $0.source == .records }
        decoder = RecordDecoder(schema: RecordSchema(app: app), collectsOtherMembers: !triggersByRecord.isEmpty)
        try WindowEngine.validate(series: app.series.map(\.spec), watermark: app.watermark, fieldCount: app.numericFields.count)
        seriesLayouts = app.series.map { SeriesResultLayout(app: app.name, series: $0.spec) }
        recordTriggers = triggersByRecord.map {
            ($0.condition, TriggerEventLayout(app: app.name, trigger: $0.name), $0.output)
        }
        seriesTriggers = app.series.indices.map { index in
            app.triggers.filter { $0.source == .series(index: index) }.map {
                ($0.condition, TriggerEventLayout(app: app.name, trigger: $0.name), $0.output)
            }
        }
        resultSlots = Array(repeating: .nan, count: app.series.map(\.resultFields.count).max() ?? 0)
    }

    // MARK: Partitions

    /// Takes over `state` for `partition` (restored, fresh, or carried over from an earlier
    /// version of the app); the state the partition had is dropped.
    package func install(_ state: PartitionState, partition: Int32) {
        hold(state, partition: partition)
        forgetCurrent()
    }

    private func hold(_ state: PartitionState, partition: Int32) {
        if partitions.updateValue(state, forKey: partition) == nil {
            heldPartitions.insert(partition, at: heldPartitions.firstIndex { $0 > partition } ?? heldPartitions.endIndex)
        }
    }

    /// Starts a partition met for the first time (out of line: the record path inlines its caller).
    @inline(never)
    private func start(_ partition: Int32) -> PartitionState {
        let state = PartitionState(engine: app.makeEngine(), start: .min)
        hold(state, partition: partition)
        return state
    }

    /// Drops the state of a partition taken away.
    package func drop(partition: Int32) {
        if partitions.removeValue(forKey: partition) != nil { heldPartitions.removeAll { $0 == partition } }
        forgetCurrent()
    }

    /// The state of `partition`, if held.
    package func state(of partition: Int32) -> PartitionState? { partitions[partition] }

    /// The partitions whose state is held, in order: what a tick emits, and a checkpoint
    /// writes, comes in the same order in every process (the runtime simulation replays a
    /// seed only so).
    package private(set) var heldPartitions: [Int32] = []

    private func forgetCurrent() {
        currentPartition = -1
        current = nil
        batched.removeAll()
    }

    /// The state of `partition`, started if the processor starts partitions, unretained.
    @inline(__always)
    private func state(for partition: Int32) -> Unmanaged<PartitionState>? {
        if partition == currentPartition, let current { return current }
        var state = partitions[partition]
        if state == nil && startsPartitions { state = start(partition) }
        currentPartition = partition
        current = state.map(Unmanaged.passUnretained)
        if let state, !batched.contains(where: { $0 === state }) { batched.append(state) }
        return current
    }

    // MARK: Records

    /// Processes one message.
    ///
    /// - Parameters:
    ///   - value: the message value; nil for a tombstone (which is malformed here).
    ///   - key: the message key (the device id when the app reads it from there).
    ///   - timestamp: the message timestamp (the event time when the app reads it from there).
    ///   - offset: the message's offset in its partition (what a state covers is told by it).
    ///   - now: processing time, epoch milliseconds.
    @discardableResult
    package func process<Sink: OutputSink>(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64?, partition: Int32,
        offset: Int64, now: Int64, into sink: Sink
    ) -> RecordOutcome {
        guard let state = state(for: partition) else { return .skipped }
        return state._withUnsafeGuaranteedRef { state in
            guard offset >= state.start, !state.catchingUp else { return .skipped }
            return apply(value: value, key: key, timestamp: timestamp, partition: partition, offset: offset, now: now, to: state, into: sink)
        }
    }

    /// Processes one message a catch-up reader read for the partition's state, if it is
    /// catching up. The first message at or past `handover` (where the shared stream stands)
    /// is left to the shared stream: the state hands over and takes records from there on.
    @discardableResult
    package func processCatchingUp<Sink: OutputSink>(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64?, partition: Int32,
        offset: Int64, handover: Int64, now: Int64, into sink: Sink
    ) -> RecordOutcome {
        guard let state = state(for: partition)?.takeUnretainedValue(), offset >= state.start, state.catchingUp else {
            return .skipped
        }
        guard offset < handover else {
            handOver(state, at: offset)
            return .skipped
        }
        return apply(value: value, key: key, timestamp: timestamp, partition: partition, offset: offset, now: now, to: state, into: sink)
    }

    /// A catch-up reader reached the end of `partition` at `offset`: a state catching up
    /// there takes the shared stream from there on, if it stands no further.
    package func caughtUp(partition: Int32, at offset: Int64, handover: Int64) {
        guard let state = partitions[partition], state.catchingUp, offset >= handover else { return }
        handOver(state, at: offset)
    }

    /// Ends a state's catching up: every record before `offset` it has taken, so it skips
    /// those the shared stream still brings and takes the rest.
    private func handOver(_ state: PartitionState, at offset: Int64) {
        state.catchingUp = false
        state.skip(until: offset)
    }

    @inline(__always)
    private func apply<Sink: OutputSink>(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64?, partition: Int32,
        offset: Int64, now: Int64, to state: PartitionState, into sink: Sink
    ) -> RecordOutcome {
        state.position = max(state.position, offset + 1)
        state.noteReplay(at: offset)
        var value = value
        if readsRepartitioned {
            guard let repartitioned = value.flatMap(RepartitionedValue.read) else {
                counts.recordsIn += 1
                return reject(value: value, key: key, .malformed(.notRepartitioned), into: sink)
            }
            guard state.takeOrigin(partition: repartitioned.partition, offset: repartitioned.offset, floor: repartitioned.floor) else { return .covered }
            value = repartitioned.value
        }
        counts.recordsIn += 1
        let bytes = value ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if let failure = decoder.decode(value: bytes, key: key, timestamp: timestamp) {
            return reject(value: value, key: key, .malformed(failure), into: sink)
        }
        // Before anything reads the reading: a clock far ahead would move the device's
        // watermark, and every later, right reading of the device would be too late.
        let future = app.maxFuture.map { Self.isAhead(decoder.time, of: now, by: $0) } ?? false
        if checksKeys && !decoder.deviceIs(key) { counts.notKeyedByDevice += 1 }
        let device = decoder.internDevice(in: &state.devices)
        var forwarder = ResultForwarder(processor: self, state: state, sink: sink)
        let time = decoder.time
        if state.covers(device, at: offset) {
            // Applied before a restart, with its outputs: only what it did to the partition's
            // watermark (`per: partition`) is replayed.
            if !future {
                decoder.withNumbers { fields in
                    state.engine.observeCovered(Reading(device: device, time: time, partition: partition, fields: fields), into: &forwarder)
                }
            }
            return .covered
        }
        if future, let maxFuture = app.maxFuture {
            return reject(value: value, key: key, .future(maxFuture: maxFuture), into: sink)
        }
        if !recordTriggers.isEmpty { fireRecordTriggers(record: bytes, into: sink) }
        let admission = decoder.withNumbers { fields in
            state.engine.process(
                Reading(device: device, time: time, partition: partition, fields: fields), now: now,
                into: &forwarder)
        }
        // The engine's watermarks follow every readable event time, too late or not.
        if admission != .invalidTime { state.maxEventTime = max(state.maxEventTime ?? time, time) }
        switch admission {
        case .accepted: return .accepted
        case .tooLate: return reject(value: value, key: key, .tooLate, into: sink)
        case .invalidTime: return reject(value: value, key: key, .timeOutOfRange, into: sink)
        }
    }

    /// Ends a batch of records: every window that late records (with `emit: updates`, any
    /// record) revised since the last batch end is emitted once, with its revision now.
    /// Where batches end decides which revisions appear, never what a revision holds.
    package func endBatch<Sink: OutputSink>(into sink: Sink) {
        for state in batched {
            var forwarder = ResultForwarder(processor: self, state: state, sink: sink)
            state.engine.endBatch(into: &forwarder)
        }
        batched.removeAll(keepingCapacity: true)
        // The next record looks its state up again, and so joins the next batch.
        currentPartition = -1
        current = nil
    }

    /// Lets processing time pass: idle devices are flushed and `every` periods fire.
    package func advance<Sink: OutputSink>(now: Int64, into sink: Sink) {
        for partition in heldPartitions {
            let state = partitions[partition]!
            var forwarder = ResultForwarder(processor: self, state: state, sink: sink)
            state.engine.advance(processingTime: now, into: &forwarder)
        }
    }

    /// Closes every window, as at the end of a file.
    package func closeAll<Sink: OutputSink>(into sink: Sink) {
        for partition in heldPartitions {
            let state = partitions[partition]!
            var forwarder = ResultForwarder(processor: self, state: state, sink: sink)
            state.engine.closeAll(into: &forwarder)
        }
    }

    /// The most advanced watermark of any device (or partition), if any record was seen:
    /// the largest event time the engine took, less the out-of-order bound.
    package var maxWatermark: Int64? {
        partitions.values.compactMap { $0.maxWatermark(outOfOrder: app.watermark.outOfOrder) }.max()
    }

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
                        deliver(topic: trigger.output, device: device, into: sink)
                    }
                    counts.triggersOut += 1
                }
            }
        }
    }

    /// Encodes one emitted window and fires the triggers on its series.
    fileprivate func emit<Sink: OutputSink>(_ result: WindowResult, of state: PartitionState, into sink: Sink) {
        var name = state.devices.name(of: result.device)
        name.withUTF8 { nameBytes in
            let device = UnsafeRawBufferPointer(nameBytes)
            let layout = seriesLayouts[result.series]
            encoder.encodeSeriesResult(
                layout, device: device, start: result.start, end: result.end, revision: Int(result.revision),
                timing: result.timing, values: result.values, comparisons: result.comparisons)
            encoder.encodeWindowKey(layout, device: device, start: result.start)
            encoder.key.withUnsafeBytes { key in
                encoder.bytes.withUnsafeBytes { value in
                    sink.send(topic: app.series[result.series].output, key: key, value: value, device: device, windowEnd: result.end)
                }
            }
            counts.resultsOut += 1
            let triggers = seriesTriggers[result.series]
            guard !triggers.isEmpty else { return }
            let aggregates = result.values.count
            for index in 0..<aggregates { resultSlots[index] = result.values[index] }
            resultSlots[aggregates] = Double(result.start)
            resultSlots[aggregates + 1] = Double(result.end)
            resultSlots[aggregates + 2] = Double(result.revision)
            var slot = aggregates + 3
            for comparison in 0..<result.comparisonCount {
                let present = result.comparisons[comparison * (aggregates + 1)] > 0
                for index in 0..<aggregates {
                    resultSlots[slot] = present ? result.comparisons[comparison * (aggregates + 1) + 1 + index] : .nan
                    slot += 1
                }
            }
            // The one string slot, `timing`: static bytes, so nothing is allocated.
            let timing = result.timing.name
            let timingBytes: UnsafeRawBufferPointer? = UnsafeRawBufferPointer(start: timing.utf8Start, count: timing.utf8CodeUnitCount)
            withUnsafePointer(to: timingBytes) { timingSlot in
                let strings = UnsafeBufferPointer(start: timingSlot, count: 1)
                resultSlots.withUnsafeBufferPointer { slots in
                    for trigger in triggers where trigger.condition.evaluate(numbers: slots, strings: strings) {
                        encoder.encodeSeriesTriggerEvent(
                            trigger.layout, series: layout, device: device, start: result.start, end: result.end,
                            revision: Int(result.revision), timing: result.timing, values: result.values,
                            comparisons: result.comparisons)
                        deliver(topic: trigger.output, device: device, into: sink)
                        counts.triggersOut += 1
                    }
                }
            }
        }
    }

    /// Sends the encoded record keyed by its device.
    private func deliver<Sink: OutputSink>(topic: String, device: UnsafeRawBufferPointer, into sink: Sink) {
        encoder.bytes.withUnsafeBytes { sink.send(topic: topic, key: device, value: $0, device: device, windowEnd: nil) }
    }
}

/// Hands an engine's results back to the processor that owns the engine.
private struct ResultForwarder<Sink: OutputSink>: WindowResultSink {
    // unowned(unsafe): the forwarder lives only for one engine call made by this processor,
    // whose caller holds the sink and the state; counted references would cost a retain and
    // a release of each per record.
    unowned(unsafe) let processor: AppProcessor
    unowned(unsafe) let state: PartitionState
    unowned(unsafe) let sink: Sink

    mutating func emit(_ result: WindowResult) {
        processor.emit(result, of: state, into: sink)
    }
}
