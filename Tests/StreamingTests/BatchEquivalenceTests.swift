// The central promise as a property: when allowed lateness covers the delays, the final
// revision of every window equals a batch computation over the same records, whatever the
// arrival order and wherever batches end, and no record is too late. And revisions are a
// function of the input: where batches end decides which revisions are emitted, never what
// one holds.
import Streaming
import Testing

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x2545_f491_4f6c_dd1d &+ 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

struct TestRecord {
    var device: String
    var time: Int64
    var values: [Double?]
}

let propertyAggregates: [AggregateSpec] = everyAggregate + [
    AggregateSpec(name: "p90", function: .percentile(90), field: 0),
    AggregateSpec(name: "sparse_sum", function: .sum, field: 1),
    AggregateSpec(name: "sparse_mean", function: .mean, field: 1),
]

struct WindowKey: Hashable, Comparable {
    var series: Int
    var device: String
    var start: Int64
    static func < (a: WindowKey, b: WindowKey) -> Bool {
        (a.series, a.device, a.start) < (b.series, b.device, b.start)
    }
}

/// What a batch job computes for one window, written as plainly as possible.
func batchAggregates(_ records: [TestRecord]) -> [Double?] {
    let xs = records.compactMap { $0.values[0] }
    let sparse = records.compactMap { $0.values[1] }
    let n = Double(xs.count)
    func quantile(_ q: Double) -> Double? {
        guard !xs.isEmpty else { return nil }
        return xs.sorted()[Int((q * Double(xs.count - 1)).rounded(.down))]
    }
    // Values are multiples of 1/64, so sums and sums of squares are exact in Double and the
    // variance numerator is an exact integer: every result below is correctly rounded.
    var stddev: Double? = nil
    if xs.count >= 2 {
        let ks = xs.map { Int64($0 * 64) }
        let numerator = Int64(xs.count) * ks.reduce(0) { $0 + $1 * $1 } - ks.reduce(0, +) * ks.reduce(0, +)
        stddev = (Double(numerator) / Double(xs.count * (xs.count - 1)) / 4096).squareRoot()
    }
    let timed = records.compactMap { r in r.values[0].map { (r.time, $0) } }
    let first = timed.min { ($0.0, $0.1) < ($1.0, $1.1) }?.1
    let last = timed.max { ($0.0, $0.1) < ($1.0, $1.1) }?.1
    return [
        Double(records.count),
        xs.isEmpty ? nil : xs.reduce(0, +),
        xs.isEmpty ? nil : xs.reduce(0, +) / n,
        xs.min(), xs.max(), stddev, first, last, quantile(0.5), quantile(0.9),
        sparse.isEmpty ? nil : sparse.reduce(0, +),
        sparse.isEmpty ? nil : sparse.reduce(0, +) / Double(sparse.count),
    ]
}

func batchWindows(_ records: [TestRecord], series: [SeriesSpec]) -> [WindowKey: (end: Int64, values: [Double?])] {
    var result: [WindowKey: (end: Int64, values: [Double?])] = [:]
    let byDevice = Dictionary(grouping: records, by: \.device)
    for (s, spec) in series.enumerated() {
        for (device, deviceRecords) in byDevice {
            var groups: [Int64: (end: Int64, records: [TestRecord])] = [:]
            switch spec.window {
            case .tumbling(let size):
                for r in deviceRecords {
                    let start = floorDiv(r.time, size) * size
                    groups[start, default: (start + size, [])].records.append(r)
                }
            case .hopping(let size, let slide):
                for r in deviceRecords {
                    var start = floorDiv(r.time, slide) * slide
                    while start > r.time - size {
                        groups[start, default: (start + size, [])].records.append(r)
                        start -= slide
                    }
                }
            case .session(let gap):
                var current: [TestRecord] = []
                func flush() {
                    guard let firstTime = current.first?.time, let lastTime = current.last?.time else { return }
                    groups[firstTime] = (lastTime + gap, current)
                    current = []
                }
                for r in deviceRecords.sorted(by: { $0.time < $1.time }) {
                    if let previous = current.last, r.time - previous.time >= gap { flush() }
                    current.append(r)
                }
                flush()
            }
            for (start, group) in groups {
                result[WindowKey(series: s, device: device, start: start)] = (group.end, batchAggregates(group.records))
            }
        }
    }
    return result
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a - 1) / b) - 1 }

/// The surviving final revision of every window in an output stream (retractions remove).
/// Revisions never decrease per window; early results all come before the window's result at
/// close, which supersedes them; a window has one result on time at most.
func finalRevisions(_ results: [EmittedWindow], devices: DeviceTable) -> [WindowKey: EmittedWindow] {
    var latest: [WindowKey: EmittedWindow] = [:]
    var onTime: Set<WindowKey> = []
    for result in results {
        let key = WindowKey(series: result.series, device: devices.name(of: result.device), start: result.start)
        if result.timing == .onTime {
            #expect(onTime.insert(key).inserted, "a second result on time: \(result)")
        }
        if let previous = latest[key] {
            #expect(result.revision >= previous.revision, "revisions must not decrease: \(previous) then \(result)")
            #expect(previous.timing == .early || result.timing != .early, "an early result after the window closed: \(previous) then \(result)")
            #expect(!previous.isRetraction, "a retracted window came back: \(result)")
            #expect(!result.isRetraction || result.revision > previous.revision, "retracted at a revision emitted before: \(result)")
        }
        latest[key] = result
    }
    return latest.filter { !$0.value.isRetraction }
}

func same(_ a: Double?, _ b: Double?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?): return x.bitPattern == y.bitPattern || (x == 0 && y == 0)
    default: return false
    }
}

@Suite struct BatchEquivalenceTests {
    @Test(arguments: 0 ..< 120)
    func finalRevisionsEqualTheBatchResultInAnyBoundedArrivalOrder(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(seed))
        let windows: [WindowSpec] = [
            .tumbling(size: [10, 25, 60].randomElement(using: &rng)!),
            .hopping(size: 60, slide: [10, 20, 30].randomElement(using: &rng)!),
            .session(gap: Int64.random(in: 5 ... 30, using: &rng)),
        ]
        let emits: [EmitPolicy] = [.final, .updates, .every(Int64.random(in: 5 ... 50, using: &rng))]
        let series = windows.enumerated().map { i, window in
            SeriesSpec(
                name: "s\(i)", window: window, allowedLateness: Int64.random(in: 0 ... 40, using: &rng),
                emit: emits.randomElement(using: &rng)!, aggregates: propertyAggregates)
        }
        let outOfOrder = Int64.random(in: 0 ... 20, using: &rng)
        let idle: Int64? = Bool.random(using: &rng) ? Int64.random(in: 10 ... 200, using: &rng) : nil
        let minLateness = series.map(\.allowedLateness).min()!

        // Records: per device increasing event times (ties allowed), values on a 1/64 grid.
        var records: [TestRecord] = []
        for device in 0 ..< Int.random(in: 1 ... 5, using: &rng) {
            var time = Int64.random(in: -100 ... 100, using: &rng)
            for _ in 0 ..< Int.random(in: 1 ... 70, using: &rng) {
                time += Int64.random(in: 0 ... 12, using: &rng)
                if Int.random(in: 0 ..< 20, using: &rng) == 0 { time += Int64.random(in: 20 ... 90, using: &rng) }
                let value: Double? =
                    Int.random(in: 0 ..< 10, using: &rng) == 0 ? nil : Double(Int.random(in: -40000 ... 40000, using: &rng)) / 64
                let sparse: Double? = Int.random(in: 0 ..< 4, using: &rng) == 0 ? Double(Int.random(in: 0 ... 99, using: &rng)) : nil
                records.append(TestRecord(device: "dev-\(device)", time: time, values: [value, sparse]))
            }
        }
        // Arrival order: each record is delayed by at most outOfOrder + lateness of event time.
        let bound = outOfOrder + minLateness
        let arrival = records.map { ($0, $0.time + Int64.random(in: 0 ... bound, using: &rng), rng.next()) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map(\.0)

        var h = try EngineHarness(series, watermark: WatermarkSpec(outOfOrder: outOfOrder, idle: idle), fields: 2)
        var now: Int64 = 0
        let batchLength = [1, 5, 50, 1000].randomElement(using: &rng)!
        for record in arrival {
            now += Int64.random(in: 0 ... 8, using: &rng)
            #expect(h.sendValues(record.device, at: record.time, record.values, now: now) == .accepted)
            if Int.random(in: 0 ..< batchLength, using: &rng) == 0 { h.endBatch() }
            if Bool.random(using: &rng) { h.advance(to: now) }
        }
        h.closeAll()
        let streamed = finalRevisions(h.sink.results, devices: h.devices)
        let batch = batchWindows(records, series: series)

        let missing = Set(batch.keys).subtracting(streamed.keys).sorted()
        let extra = Set(streamed.keys).subtracting(batch.keys).sorted()
        #expect(missing.isEmpty && extra.isEmpty, "seed \(seed): missing \(missing), extra \(extra)")
        for key in batch.keys.sorted() {
            guard let got = streamed[key], let want = batch[key] else { continue }
            #expect(got.end == want.end, "seed \(seed) \(key)")
            for (i, aggregate) in propertyAggregates.enumerated() {
                let g = got.values[i], w = want.values[i]
                if case .percentile = aggregate.function, let g, let w {
                    #expect(abs(g - w) <= abs(w) / 100 + 1e-12, "seed \(seed) \(key) \(aggregate.name): \(g) vs \(w)")
                } else {
                    #expect(same(g, w), "seed \(seed) \(key) \(aggregate.name): \(String(describing: g)) vs \(String(describing: w))")
                }
            }
        }
    }

    /// With full-precision values the batch reference cannot be exact, but the engine itself
    /// must still give bit-identical final results for any bounded arrival order.
    @Test(arguments: 0 ..< 40)
    func fullPrecisionValuesGiveIdenticalResultsInAnyArrivalOrder(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(1000 + seed))
        let series = [
            SeriesSpec(name: "t", window: .tumbling(size: 50), allowedLateness: 30, aggregates: propertyAggregates),
            SeriesSpec(name: "h", window: .hopping(size: 100, slide: 20), allowedLateness: 30, aggregates: propertyAggregates),
            SeriesSpec(name: "g", window: .session(gap: 8), allowedLateness: 30, aggregates: propertyAggregates),
        ]
        var records: [TestRecord] = []
        for device in 0 ..< 3 {
            var time: Int64 = 0
            for _ in 0 ..< 150 {
                time += Int64.random(in: 0 ... 6, using: &rng)
                let magnitude = [1.0, 1e-3, 1e3, 1e6].randomElement(using: &rng)!
                records.append(
                    TestRecord(device: "d\(device)", time: time, values: [Double.random(in: -1 ... 1, using: &rng) * magnitude, nil]))
            }
        }
        func run(_ order: [TestRecord]) throws -> [WindowKey: EmittedWindow] {
            var h = try EngineHarness(series, watermark: WatermarkSpec(outOfOrder: 5), fields: 2)
            for record in order { #expect(h.sendValues(record.device, at: record.time, record.values) == .accepted) }
            h.closeAll()
            return finalRevisions(h.sink.results, devices: h.devices)
        }
        let inOrder = try run(records.sorted { $0.time < $1.time })
        let shuffled = try run(
            records.map { ($0, $0.time + Int64.random(in: 0 ... 35, using: &rng), rng.next()) }
                .sorted { ($0.1, $0.2) < ($1.1, $1.2) }.map(\.0))
        #expect(Set(inOrder.keys) == Set(shuffled.keys), "seed \(seed): \(Set(inOrder.keys).symmetricDifference(shuffled.keys))")
        for (key, window) in inOrder {
            #expect(shuffled[key].map { zip($0.values, window.values).allSatisfy(same) } == true, "seed \(seed) \(key)")
        }
    }

    /// Two runs over the same records, the same processing times and the same `advance` calls:
    /// one ends a batch after every record, the other at random points. Every revision the
    /// second emits with a timing other than early (early results are provisional) is one the
    /// first emitted too, with that timing, bit for bit; per window revisions never decrease; and
    /// with nothing too late, the final revisions of both equal the batch computation.
    @Test(arguments: 0 ..< 100)
    func revisionsDoNotDependOnWhereBatchesEnd(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(9000 + seed))
        let emits: [EmitPolicy] = [.final, .final, .updates, .every(Int64.random(in: 5 ... 50, using: &rng))]
        let windows: [WindowSpec] = [
            .tumbling(size: [10, 25].randomElement(using: &rng)!),
            .hopping(size: 60, slide: [10, 20, 30].randomElement(using: &rng)!),
            .session(gap: Int64.random(in: 5 ... 30, using: &rng)),
        ]
        let series = windows.enumerated().map { i, window in
            SeriesSpec(
                name: "s\(i)", window: window, allowedLateness: Int64.random(in: 0 ... 60, using: &rng),
                emit: emits.randomElement(using: &rng)!, aggregates: propertyAggregates)
        }
        let scope: WatermarkScope = Int.random(in: 0 ..< 3, using: &rng) == 0 ? .partition : .device
        let idle: Int64? = Bool.random(using: &rng) ? Int64.random(in: 10 ... 200, using: &rng) : nil
        let watermark = WatermarkSpec(scope: scope, outOfOrder: Int64.random(in: 0 ... 20, using: &rng), idle: idle)
        // Half the seeds keep every delay within the lateness (so batch is the reference for the
        // final revisions); the others let some records be too late.
        let bounded = seed % 2 == 0
        let delayBound = watermark.outOfOrder + (bounded ? series.map(\.allowedLateness).min()! : 120)

        var records: [(record: TestRecord, partition: Int32)] = []
        for device in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
            var time = Int64.random(in: -100 ... 100, using: &rng)
            for _ in 0 ..< Int.random(in: 1 ... 80, using: &rng) {
                time += Int64.random(in: 0 ... 12, using: &rng)
                if Int.random(in: 0 ..< 20, using: &rng) == 0 { time += Int64.random(in: 20 ... 90, using: &rng) }
                let value: Double? =
                    Int.random(in: 0 ..< 10, using: &rng) == 0 ? nil : Double(Int.random(in: -40000 ... 40000, using: &rng)) / 64
                let sparse: Double? = Int.random(in: 0 ..< 4, using: &rng) == 0 ? Double(Int.random(in: 0 ... 99, using: &rng)) : nil
                records.append((TestRecord(device: "dev-\(device)", time: time, values: [value, sparse]), Int32(device % 2)))
            }
        }
        let arrival = records.map { ($0, $0.record.time + Int64.random(in: 0 ... delayBound, using: &rng), rng.next()) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map(\.0)
        // The script both runs follow; only `endsBatch` differs between them.
        let steps = arrival.map { step in
            (step, advance: Int64.random(in: 0 ... 8, using: &rng), advances: Int.random(in: 0 ..< 3, using: &rng) == 0,
             endsBatch: Int.random(in: 0 ..< 6, using: &rng) == 0)
        }

        /// Emissions with whether they came from `advance`.
        func run(batchAfterEveryRecord: Bool) throws -> (results: [(EmittedWindow, early: Bool)], devices: DeviceTable, allAccepted: Bool) {
            var h = try EngineHarness(series, watermark: watermark, fields: 2)
            var results: [(EmittedWindow, early: Bool)] = []
            func collect(early: Bool) {
                // Processing time closes nothing: its results are early (or late, for a session
                // a late record reopened).
                if early { #expect(h.sink.results.allSatisfy { $0.timing != .onTime }, "seed \(seed)") }
                results += h.sink.results.map { ($0, early) }
                h.sink.results.removeAll()
            }
            var now: Int64 = 0
            var allAccepted = true
            for (step, advance, advances, endsBatch) in steps {
                now += advance
                let admission = h.sendValues(step.record.device, at: step.record.time, step.record.values, partition: step.partition, now: now)
                if admission != .accepted { allAccepted = false }
                if batchAfterEveryRecord || endsBatch { h.endBatch() }
                collect(early: false)
                if advances {
                    h.advance(to: now)
                    collect(early: true)
                }
            }
            h.endBatch()
            h.closeAll()
            collect(early: false)
            return (results, h.devices, allAccepted)
        }
        let reference = try run(batchAfterEveryRecord: true)
        let batched = try run(batchAfterEveryRecord: false)
        #expect(reference.allAccepted == batched.allAccepted)

        struct RevisionKey: Hashable {
            var window: WindowKey
            var revision: Int64
            var timing: ResultTiming
        }
        func key(_ result: EmittedWindow, _ devices: DeviceTable) -> RevisionKey {
            RevisionKey(
                window: WindowKey(series: result.series, device: devices.name(of: result.device), start: result.start),
                revision: result.revision, timing: result.timing)
        }
        // Only early results may differ (the engine says which), wherever they came from.
        var referenceRevisions: [RevisionKey: EmittedWindow] = [:]
        for (result, _) in reference.results where result.timing != .early {
            let revision = key(result, reference.devices)
            if let other = referenceRevisions[revision] {
                #expect(other.values.map { $0?.bitPattern } == result.values.map { $0?.bitPattern } && other.end == result.end,
                    "seed \(seed): one revision, two contents: \(other) and \(result)")
            }
            referenceRevisions[revision] = result
        }
        var compared = 0
        for (result, _) in batched.results where result.timing != .early {
            let revision = key(result, batched.devices)
            guard let want = referenceRevisions[revision] else {
                Issue.record("seed \(seed): \(revision.window) revision \(revision.revision) \(revision.timing.name) was never emitted with a batch end after every record: \(result)")
                continue
            }
            #expect(want.end == result.end && want.isRetraction == result.isRetraction
                && want.values.map { $0?.bitPattern } == result.values.map { $0?.bitPattern },
                "seed \(seed): \(revision.window) revision \(revision.revision): \(result), with a batch end after every record \(want)")
            compared += 1
        }
        #expect(compared > 0)
        // Non-decreasing revisions per window, early results included (finalRevisions checks).
        let referenceFinal = finalRevisions(reference.results.map(\.0), devices: reference.devices)
        let batchedFinal = finalRevisions(batched.results.map(\.0), devices: batched.devices)
        #expect(Set(referenceFinal.keys) == Set(batchedFinal.keys), "seed \(seed)")
        for (window, result) in batchedFinal {
            #expect(referenceFinal[window] == result, "seed \(seed) \(window): \(result) vs \(String(describing: referenceFinal[window]))")
        }
        // A record too late for one series may count in another: only bounded delays compare.
        guard bounded && reference.allAccepted else { return }
        let batch = batchWindows(records.map(\.record), series: series)
        #expect(Set(batch.keys) == Set(batchedFinal.keys), "seed \(seed): \(Set(batch.keys).symmetricDifference(batchedFinal.keys).sorted())")
        for (window, want) in batch {
            guard let got = batchedFinal[window] else { continue }
            #expect(got.end == want.end, "seed \(seed) \(window)")
            for (i, aggregate) in propertyAggregates.enumerated() {
                let g = got.values[i], w = want.values[i]
                if case .percentile = aggregate.function, let g, let w {
                    #expect(abs(g - w) <= abs(w) / 100 + 1e-12, "seed \(seed) \(window) \(aggregate.name)")
                } else {
                    #expect(same(g, w), "seed \(seed) \(window) \(aggregate.name): \(String(describing: g)) vs \(String(describing: w))")
                }
            }
        }
    }
}
