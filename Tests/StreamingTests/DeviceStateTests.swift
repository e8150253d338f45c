// Durable state, device by device: an engine rebuilt from the changelog its devices' records
// would form continues with exactly the outputs of the engine that never stopped.
import Streaming
import Testing

/// One emission as the comparisons see it: identified by window, values by bit pattern.
struct Emission: Hashable, CustomStringConvertible {
    var window: WindowKey
    var end: Int64
    var revision: Int64
    var timing: ResultTiming
    var isRetraction: Bool
    var bits: [UInt64?]

    init(_ result: EmittedWindow, devices: DeviceTable) {
        window = WindowKey(series: result.series, device: devices.name(of: result.device), start: result.start)
        end = result.end
        revision = result.revision
        timing = result.timing
        isRetraction = result.isRetraction
        bits = result.values.map { $0?.bitPattern }
    }

    var description: String { "\(window.device) s\(window.series) [\(window.start),\(end)) r\(revision) \(timing.name)\(isRetraction ? " retracted" : "")" }
}

/// Random input for the restore tests: every window kind and aggregate, sessions that merge,
/// and backfills within the lateness so revisions happen.
struct StateScenario {
    var series: [SeriesSpec]
    var watermark: WatermarkSpec
    var stream: [(record: TestRecord, partition: Int32)] = []
    /// After which records a batch ends.
    var batchEnds: Set<Int> = []

    init(seed: Int, idle: Int64? = nil) {
        var rng = SeededGenerator(seed: UInt64(seed))
        let emits: [EmitPolicy] = [.final, .final, .updates]
        series = [
            SeriesSpec(name: "t", window: .tumbling(size: 20), allowedLateness: 40, emit: emits.randomElement(using: &rng)!,
                aggregates: propertyAggregates),
            SeriesSpec(name: "h", window: .hopping(size: 60, slide: 20), allowedLateness: 30, emit: emits.randomElement(using: &rng)!,
                aggregates: propertyAggregates),
            SeriesSpec(name: "g", window: .session(gap: 7), allowedLateness: 40, emit: emits.randomElement(using: &rng)!,
                aggregates: propertyAggregates),
            // Comparisons that read the history (past the lateness) and live windows.
            SeriesSpec(name: "c", window: .tumbling(size: 10), allowedLateness: 30, emit: emits.randomElement(using: &rng)!,
                aggregates: propertyAggregates,
                comparisons: [
                    ComparisonSpec(name: "prev", reach: .offset(10)), ComparisonSpec(name: "back", reach: .offset(70)),
                    ComparisonSpec(name: "trailing", reach: .over(50)),
                ]),
        ]
        watermark = WatermarkSpec(scope: seed % 2 == 0 ? .device : .partition, outOfOrder: 5, idle: idle)
        for i in 0 ..< 500 {
            let device = Int.random(in: 0 ..< 6, using: &rng)
            // Mostly a little disorder, sometimes a backfill deep into the lateness.
            let delay = Int.random(in: 0 ..< 10, using: &rng) == 0 ? Int64.random(in: 10 ... 60, using: &rng) : Int64.random(in: 0 ... 8, using: &rng)
            let value: Double? = Int.random(in: 0 ..< 8, using: &rng) == 0 ? nil : Double.random(in: -9 ... 9, using: &rng)
            stream.append((TestRecord(device: "d\(device)", time: Int64(i) - delay, values: [value, nil]), Int32(device % 2)))
            if Int.random(in: 0 ..< 5, using: &rng) == 0 { batchEnds.insert(i) }
        }
    }

    func harness() throws -> EngineHarness { try EngineHarness(series, watermark: watermark, fields: 2) }
}

/// A changelog as the runtime keeps it: the newest record of every device (nil: a tombstone)
/// with the input position it covers, and the partitions' records.
struct Changelog {
    var devices: [String: (bytes: [UInt8]?, position: Int)] = [:]
    var partitions: [Int32: [UInt8]] = [:]

    /// Writes the devices (and partitions) changed since the last checkpoint; `keeping` limits
    /// the devices written, as a checkpoint cut short would.
    mutating func checkpoint(_ h: EngineHarness, position: Int, keeping: (String) -> Bool = { _ in true }, partitions writesPartitions: Bool = true) {
        var changed: [DeviceID] = []
        h.engine.takeChangedDevices(into: &changed)
        for device in changed where keeping(h.devices.name(of: device)) {
            var bytes: [UInt8] = []
            devices[h.devices.name(of: device)] = (h.engine.encode(device: device, into: &bytes) ? bytes : nil, position)
        }
        var changedPartitions: [Int32] = []
        h.engine.takeChangedPartitions(into: &changedPartitions)
        for partition in changedPartitions where writesPartitions {
            var bytes: [UInt8] = []
            if h.engine.encode(partition: partition, into: &bytes) { partitions[partition] = bytes }
        }
    }

    /// A new engine with every device and partition restored, devices interned in `order`.
    func restore(into h: inout EngineHarness, order: [String]) throws {
        for name in order {
            guard let bytes = devices[name]?.bytes else { continue }
            let id = h.devices.intern(name)
            try bytes.withUnsafeBytes { try h.engine.restore(device: id, from: $0, now: 0) }
        }
        for (partition, bytes) in partitions {
            try bytes.withUnsafeBytes { try h.engine.restore(partition: partition, from: $0) }
        }
    }
}

@Suite struct DeviceStateTests {
    /// Checkpoints at random points, from the devices the engine reports as changed; at a
    /// random record (in or between batches) the engine is rebuilt from the changelog, device
    /// by device, and both go on. Every window's emissions from then on are the same.
    @Test(arguments: 0 ..< 40)
    func anEngineRestoredDeviceByDeviceContinuesIdentically(seed: Int) throws {
        let scenario = StateScenario(seed: 700 + seed)
        var rng = SeededGenerator(seed: UInt64(7700 + seed))
        let crash = Int.random(in: 1 ..< scenario.stream.count - 20, using: &rng)
        var original = try scenario.harness()
        var changelog = Changelog()
        for (i, (record, partition)) in scenario.stream[..<crash].enumerated() {
            original.sendValues(record.device, at: record.time, record.values, partition: partition)
            if scenario.batchEnds.contains(i) { original.endBatch() }
            if Int.random(in: 0 ..< 25, using: &rng) == 0 { changelog.checkpoint(original, position: i + 1) }
        }
        changelog.checkpoint(original, position: crash)
        // What the engine said changed is all that changed: the changelog holds every device's state.
        #expect(changelog.devices.compactMapValues(\.bytes) == original.deviceRecords(), "seed \(seed)")
        _ = original.emitted()

        var restored = try scenario.harness()
        try changelog.restore(into: &restored, order: changelog.devices.keys.sorted().shuffled(using: &rng))
        // A restored device encodes as it was saved.
        #expect(restored.deviceRecords() == original.deviceRecords(), "seed \(seed)")

        for (i, (record, partition)) in scenario.stream.enumerated().dropFirst(crash) {
            let a = original.sendValues(record.device, at: record.time, record.values, partition: partition)
            let b = restored.sendValues(record.device, at: record.time, record.values, partition: partition)
            #expect(a == b, "seed \(seed) record \(i)")
            if scenario.batchEnds.contains(i) {
                original.endBatch()
                restored.endBatch()
            }
        }
        original.endBatch()
        restored.endBatch()
        original.closeAll()
        restored.closeAll()
        let expected = perWindow(original.sink.results, original.devices)
        #expect(!expected.isEmpty)
        let got = perWindow(restored.sink.results, restored.devices)
        for window in Set(expected.keys).union(got.keys).sorted() {
            #expect(got[window] == expected[window], "seed \(seed) \(window)")
        }
    }

    /// A checkpoint cut short: some devices' records are from the last checkpoint, the others
    /// (and the partitions') from the one before. Input is read again from the one before;
    /// readings a device's record already covers go to `observeCovered`. Each device's windows
    /// then get exactly the emissions the original engine made after the device's position.
    @Test(arguments: 0 ..< 40)
    func readingsARecordCoversAreObservedAndTheRestGiveTheSameEmissions(seed: Int) throws {
        let scenario = StateScenario(seed: 800 + seed)
        var rng = SeededGenerator(seed: UInt64(8800 + seed))
        let stream = scenario.stream
        var original = try scenario.harness()
        var changelog = Changelog()
        // Checkpoints follow batch ends, as in the runtime; the last one is cut short.
        let checkpoints = scenario.batchEnds.filter { _ in Int.random(in: 0 ..< 8, using: &rng) == 0 }.map { $0 + 1 }.sorted()
        guard checkpoints.count >= 2 else { return }
        let previous = checkpoints[checkpoints.count - 2], last = checkpoints[checkpoints.count - 1]
        var emissions: [(step: Int, Emission)] = []
        func collect(_ step: Int) {
            emissions += original.sink.results.map { (step, Emission($0, devices: original.devices)) }
            original.sink.results.removeAll()
        }
        for (i, (record, partition)) in stream.enumerated() {
            original.sendValues(record.device, at: record.time, record.values, partition: partition)
            if scenario.batchEnds.contains(i) { original.endBatch() }
            collect(i)
            if i + 1 == last {
                let written = Set(original.devices.count == 0 ? [] : (0 ..< original.devices.count).map { original.devices.name(of: DeviceID(Int32($0))) }
                    .filter { _ in Bool.random(using: &rng) })
                changelog.checkpoint(original, position: i + 1, keeping: written.contains, partitions: false)
            } else if checkpoints.contains(i + 1) {
                changelog.checkpoint(original, position: i + 1)
            }
        }
        original.endBatch()
        original.closeAll()
        collect(stream.count)

        var restored = try scenario.harness()
        try changelog.restore(into: &restored, order: changelog.devices.keys.sorted().shuffled(using: &rng))
        func position(_ device: String) -> Int { max(previous, changelog.devices[device]?.position ?? 0) }
        var got: [Emission] = []
        for (i, (record, partition)) in stream.enumerated().dropFirst(previous) {
            if i < position(record.device) {
                let id = restored.devices.intern(record.device)
                var fields = [Double](repeating: .nan, count: 2)
                for (k, value) in record.values.enumerated() { fields[k] = value ?? .nan }
                fields.withUnsafeBufferPointer { buffer in
                    restored.engine.observeCovered(
                        Reading(device: id, time: record.time, partition: partition, fields: buffer), into: &restored.sink)
                }
            } else {
                restored.sendValues(record.device, at: record.time, record.values, partition: partition)
            }
            if scenario.batchEnds.contains(i) { restored.endBatch() }
        }
        restored.endBatch()
        restored.closeAll()
        got = restored.sink.results.map { Emission($0, devices: restored.devices) }

        let expected = Dictionary(grouping: emissions.filter { $0.step >= position($0.1.window.device) }.map(\.1), by: \.window)
        let actual = Dictionary(grouping: got, by: \.window)
        #expect(!expected.isEmpty)
        for window in Set(expected.keys).union(actual.keys).sorted() {
            #expect(actual[window] == expected[window], "seed \(seed) \(window) (position \(position(window.device)), checkpoints \(previous), \(last))")
        }
    }

    @Test(arguments: [WatermarkScope.device, .partition])
    func aCoveredReadingLeavesARestoredDeviceAsItWas(scope: WatermarkScope) throws {
        let series = [
            countSumMax("t", window: .tumbling(size: 10), lateness: 50),
            countSumMax("g", window: .session(gap: 5), lateness: 50),
        ]
        var original = try EngineHarness(series, watermark: WatermarkSpec(scope: scope, outOfOrder: 2))
        for (time, value) in [(1, 1.0), (4, 2), (13, 4), (22, 8), (6, 16)] as [(Int64, Double)] {
            original.send("a", at: time, value)
        }
        // The partition's record is saved before the covered reading, a's after it.
        var partition: [UInt8] = []
        let hasPartition = original.engine.encode(partition: 0, into: &partition)
        #expect(hasPartition == (scope == .partition))
        original.send("a", at: 30, 99)
        let saved = try #require(original.deviceRecords()["a"])

        var restored = try EngineHarness(series, watermark: WatermarkSpec(scope: scope, outOfOrder: 2))
        let id = restored.devices.intern("a")
        try saved.withUnsafeBytes { try restored.engine.restore(device: id, from: $0, now: 0) }
        if hasPartition { try partition.withUnsafeBytes { try restored.engine.restore(partition: 0, from: $0) } }
        var drained: [DeviceID] = []
        restored.engine.takeChangedDevices(into: &drained)
        #expect(drained.isEmpty)  // a restore is not a change: the changelog holds it already
        let before = restored.engine.watermark(of: id)
        #expect(before == 28)
        let values: [Double] = [99]
        values.withUnsafeBufferPointer { buffer in
            restored.engine.observeCovered(Reading(device: id, time: 30, fields: buffer), into: &restored.sink)
        }
        #expect(restored.emitted() == [])
        #expect(restored.deviceRecords()["a"] == saved)
        restored.engine.takeChangedDevices(into: &drained)
        #expect(drained.isEmpty)
        var partitions: [Int32] = []
        restored.engine.takeChangedPartitions(into: &partitions)
        if scope == .device {
            #expect(restored.engine.watermark(of: id) == before)
            #expect(partitions.isEmpty)
        } else {
            // The partition's watermark follows the reading again; a's own state stays as saved.
            #expect(partitions == [0])
            var after: [UInt8] = []
            #expect(restored.engine.encode(partition: 0, into: &after) && after != partition)
        }
    }

    @Test func anIdleFlushChangesTheDeviceAndItsRecordRemembersWhatWasEmitted() throws {
        let series = [countSumMax(window: .tumbling(size: 10))]
        var original = try EngineHarness(series, watermark: WatermarkSpec(idle: 100))
        original.send("a", at: 3, 1, now: 0)
        original.send("b", at: 4, 2, now: 500)
        var changed: [DeviceID] = []
        original.engine.takeChangedDevices(into: &changed)
        original.advance(to: 200)  // a is idle: its open window is emitted, provisionally
        #expect(original.emitted() == ["a [0,10) r0 early: 1 1 1"])
        changed = []
        original.engine.takeChangedDevices(into: &changed)
        #expect(changed.map(original.devices.name(of:)) == ["a"])

        var restored = try EngineHarness(series, watermark: WatermarkSpec(idle: 100))
        let saved = try #require(original.deviceRecords()["a"])
        try saved.withUnsafeBytes { try restored.engine.restore(device: restored.devices.intern("a"), from: $0, now: 200) }
        // The window closes unchanged since the flush, which was provisional: both engines emit
        // its result at close, the same.
        original.send("a", at: 12, 4, now: 300)
        restored.send("a", at: 12, 4, now: 300)
        #expect(original.emitted() == ["a [0,10) r0: 1 1 1"])
        #expect(restored.emitted() == ["a [0,10) r0: 1 1 1"])
    }

    @Test func recordsThatDoNotDecodeAreErrorsAndLeaveTheEngineAsItWas() throws {
        let scenario = StateScenario(seed: 3)
        var h = try scenario.harness()
        for (record, partition) in scenario.stream.prefix(300) {
            h.sendValues(record.device, at: record.time, record.values, partition: partition)
        }
        let records = h.deviceRecords()
        let bytes = try #require(records.values.max { $0.count < $1.count })

        var target = try scenario.harness()
        let id = target.devices.intern("x")
        func restore(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try target.engine.restore(device: id, from: $0, now: 0) }
        }
        #expect(throws: SnapshotError.unsupportedVersion(9)) { try restore([9] + bytes.dropFirst()) }
        #expect(throws: SnapshotError.corrupt) { try restore([]) }
        for length in 1 ..< bytes.count {
            #expect(throws: SnapshotError.self) { try restore(Array(bytes.prefix(length))) }
        }
        #expect(throws: SnapshotError.corrupt) { try restore(bytes + [0]) }
        // Flipped bits: an error or some state, never a trap.
        var rng = SeededGenerator(seed: 11)
        for _ in 0 ..< 2_000 {
            var damaged = bytes
            damaged[Int.random(in: 1 ..< damaged.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &rng)
            var scratch = try scenario.harness()
            let device = scratch.devices.intern("x")
            _ = try? damaged.withUnsafeBytes { try scratch.engine.restore(device: device, from: $0, now: 0) }
        }
        // None of the failures left anything behind.
        #expect(target.deviceRecords().isEmpty)
        try restore(bytes)
        #expect(target.deviceRecords()["x"] == bytes)
        #expect(throws: SnapshotError.alreadyHasState) { try restore(bytes) }

        let otherScope = try EngineHarness(
            scenario.series, watermark: WatermarkSpec(scope: scenario.watermark.scope == .device ? .partition : .device), fields: 2)
        #expect(throws: SnapshotError.specMismatch) {
            try bytes.withUnsafeBytes { try otherScope.engine.restore(device: DeviceID(0), from: $0, now: 0) }
        }
        let fewerSeries = try EngineHarness(Array(scenario.series.prefix(2)), watermark: scenario.watermark, fields: 2)
        #expect(throws: SnapshotError.specMismatch) {
            try bytes.withUnsafeBytes { try fewerSeries.engine.restore(device: DeviceID(0), from: $0, now: 0) }
        }
        #expect(fewerSeries.engine.stateSignature != target.engine.stateSignature)
    }

    @Test(arguments: [WindowEngine.eventTimeRange.lowerBound, WindowEngine.eventTimeRange.upperBound])
    func timesAtTheEndsOfTheRangeRoundTrip(time: Int64) throws {
        let series = [
            countSumMax("t", window: .tumbling(size: 7), lateness: WindowEngine.maxDuration),
            countSumMax("h", window: .hopping(size: 12, slide: 3), lateness: 5),
            countSumMax("g", window: .session(gap: WindowEngine.maxDuration), lateness: 5),
        ]
        let watermark = WatermarkSpec(outOfOrder: WindowEngine.maxDuration)
        var original = try EngineHarness(series, watermark: watermark)
        original.send("a", at: time, 1)
        original.send("a", at: time < 0 ? time + 20 : time - 20, 2)
        let saved = try #require(original.deviceRecords()["a"])
        var restored = try EngineHarness(series, watermark: watermark)
        try saved.withUnsafeBytes { try restored.engine.restore(device: restored.devices.intern("a"), from: $0, now: 0) }
        #expect(restored.deviceRecords()["a"] == saved)
        original.closeAll()
        restored.closeAll()
        #expect(restored.emitted() == original.emitted())
    }

    @Test func aDeviceWithoutWindowsIsATombstoneOnlyWhenItsWatermarkIsThePartitions() throws {
        let series = [countSumMax(window: .tumbling(size: 10))]
        var perDevice = try EngineHarness(series)
        perDevice.send("a", at: 5, 1)
        perDevice.closeAll()
        var bytes: [UInt8] = []
        #expect(perDevice.engine.encode(device: DeviceID(0), into: &bytes))
        #expect(bytes.count <= 16)  // its watermark (here the final one) still judges its next readings

        var perPartition = try EngineHarness(series, watermark: WatermarkSpec(scope: .partition))
        perPartition.send("a", at: 5, 1)
        perPartition.send("b", at: 25, 1)  // closes and purges a's window
        bytes = []
        #expect(!perPartition.engine.encode(device: DeviceID(0), into: &bytes))
        #expect(bytes.isEmpty)
        #expect(perPartition.engine.encode(device: DeviceID(1), into: &bytes))
        #expect(!perPartition.engine.encode(device: DeviceID(7), into: &bytes))  // never seen
    }

    @Test func oneOpenTumblingWindowOfMeanMaxAndCountTakesTensOfBytes() throws {
        let spec = SeriesSpec(
            name: "m", window: .tumbling(size: 60_000), allowedLateness: 3_600_000,
            aggregates: [
                AggregateSpec(name: "mean", function: .mean, field: 0),
                AggregateSpec(name: "max", function: .max, field: 0),
                AggregateSpec(name: "count", function: .count, field: nil),
            ])
        var h = try EngineHarness([spec], watermark: WatermarkSpec(outOfOrder: 10_000))
        for (i, value) in [21.4, 21.7, 22.1, 21.9].enumerated() { h.send("a", at: 1_764_288_000_000 + Int64(i) * 10_000, value) }
        let bytes = try #require(h.deviceRecords()["a"])
        #expect(bytes.count <= 40, "\(bytes.count) bytes")
    }

    /// Windows past their lateness live on in the device's history for its comparisons: a
    /// restored device reads them as the original does.
    @Test(arguments: [WatermarkScope.device, .partition])
    func aRestoredDeviceKeepsTheHistoryItsComparisonsRead(scope: WatermarkScope) throws {
        let series = [compared(lateness: 0, [("back3", .offset(30)), ("trailing", .over(40))])]
        let watermark = WatermarkSpec(scope: scope)
        var original = try EngineHarness(series, watermark: watermark)
        for (time, value) in [(1, 1.0), (11, 2), (21, 4), (35, 8)] as [(Int64, Double)] { original.send("a", at: time, value) }
        _ = original.emitted()
        let saved = try #require(original.deviceRecords()["a"])
        var partition: [UInt8] = []
        _ = original.engine.encode(partition: 0, into: &partition)

        var restored = try EngineHarness(series, watermark: watermark)
        try saved.withUnsafeBytes { try restored.engine.restore(device: restored.devices.intern("a"), from: $0, now: 0) }
        if !partition.isEmpty { try partition.withUnsafeBytes { try restored.engine.restore(partition: 0, from: $0) } }
        #expect(restored.deviceRecords()["a"] == saved)
        original.send("a", at: 41, 16)
        restored.send("a", at: 41, 16)
        // [0,10), [10,20) and [20,30) are past their lateness: only the history holds them.
        #expect(original.emitted() == ["a [30,40) r0: 1 8 8 | back3: 1 1 1 | trailing: 3 7 4"])
        #expect(restored.emitted() == ["a [30,40) r0: 1 8 8 | back3: 1 1 1 | trailing: 3 7 4"])
        original.closeAll()
        restored.closeAll()
        #expect(restored.emitted() == original.emitted())
    }

    /// Records of format version 1 (before comparisons) are still read, and written again as
    /// version 2, which for a series without comparisons differs only in its version byte.
    @Test func aVersion1RecordIsStillRead() throws {
        let series = [countSumMax(window: .tumbling(size: 10), lateness: 20)]
        var original = try EngineHarness(series)
        original.send("a", at: 3, 1)
        original.send("a", at: 14, 2)
        let current = try #require(original.deviceRecords()["a"])
        #expect(current.first == 2)
        var restored = try EngineHarness(series)
        try ([1] + current.dropFirst()).withUnsafeBytes { try restored.engine.restore(device: restored.devices.intern("a"), from: $0, now: 0) }
        #expect(restored.deviceRecords()["a"] == current)
        #expect(throws: SnapshotError.unsupportedVersion(3)) {
            try ([3] + current.dropFirst()).withUnsafeBytes { try restored.engine.restore(device: DeviceID(5), from: $0, now: 0) }
        }
    }

    private func perWindow(_ results: [EmittedWindow], _ devices: DeviceTable) -> [WindowKey: [Emission]] {
        Dictionary(grouping: results.map { Emission($0, devices: devices) }, by: \.window)
    }
}
