// The central promise with comparisons: the newest revision of every window, its comparisons
// included, equals a batch computation over the same records, whatever the arrival order
// (within the lateness) and wherever batches end; revisions never decrease per window; and a
// revision is a function of the input, so one (window, revision) always has one content.
import Streaming
import Testing

/// What a batch job computes for each comparison of each window of tumbling series `s`:
/// the aggregates of the window an offset before, or of the records of the span before.
func batchComparisons(
    _ records: [TestRecord], series s: Int, spec: SeriesSpec, windows: [WindowKey: (end: Int64, values: [Double?])]
) -> [WindowKey: [[Double?]?]] {
    guard case .tumbling = spec.window else { return [:] }
    let byDevice = Dictionary(grouping: records, by: \.device)
    var result: [WindowKey: [[Double?]?]] = [:]
    for key in windows.keys where key.series == s {
        result[key] = spec.comparisons.map { comparison in
            switch comparison.reach {
            case .offset(let offset):
                return windows[WindowKey(series: s, device: key.device, start: key.start - offset)]?.values
            case .over(let span):
                let inSpan = byDevice[key.device, default: []].filter { $0.time >= key.start - span && $0.time < key.start }
                return inSpan.isEmpty ? nil : batchAggregates(inSpan)
            }
        }
    }
    return result
}

@Suite struct ComparisonEquivalenceTests {
    @Test(arguments: 0 ..< 200)
    func newestRevisionsWithComparisonsEqualBatchAndRevisionsAreAFunctionOfTheInput(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(20_000 + seed))
        let size: Int64 = [10, 20].randomElement(using: &rng)!
        let candidates: [ComparisonSpec] = [
            ComparisonSpec(name: "prev", reach: .offset(size)),
            ComparisonSpec(name: "back", reach: .offset(size * Int64.random(in: 2 ... 6, using: &rng))),
            ComparisonSpec(name: "trailing", reach: .over(size * Int64.random(in: 1 ... 5, using: &rng))),
            ComparisonSpec(name: "long", reach: .over(size * Int64.random(in: 4 ... 9, using: &rng))),
        ]
        var chosen = candidates.filter { _ in Bool.random(using: &rng) }
        if chosen.isEmpty { chosen = [candidates[Int.random(in: 0 ..< candidates.count, using: &rng)]] }
        let emits: [EmitPolicy] = [.final, .final, .updates, .every(Int64.random(in: 5 ... 50, using: &rng))]
        let series = [
            SeriesSpec(
                name: "c", window: .tumbling(size: size), allowedLateness: Int64.random(in: 0 ... 80, using: &rng),
                emit: emits.randomElement(using: &rng)!, aggregates: propertyAggregates, comparisons: chosen.shuffled(using: &rng)),
            // A second series, so comparisons live beside windows that have none.
            SeriesSpec(
                name: "t", window: .tumbling(size: 25), allowedLateness: Int64.random(in: 0 ... 80, using: &rng),
                emit: emits.randomElement(using: &rng)!, aggregates: propertyAggregates),
        ]
        let scope: WatermarkScope = Int.random(in: 0 ..< 3, using: &rng) == 0 ? .partition : .device
        let idle: Int64? = Bool.random(using: &rng) ? Int64.random(in: 10 ... 200, using: &rng) : nil
        let watermark = WatermarkSpec(scope: scope, outOfOrder: Int64.random(in: 0 ... 20, using: &rng), idle: idle)
        // Half the seeds keep every delay within the lateness (batch is then the reference for
        // the newest revisions); the others let some records be too late.
        let bounded = seed % 2 == 0
        let delayBound = watermark.outOfOrder + (bounded ? series.map(\.allowedLateness).min()! : 120)

        var records: [(record: TestRecord, partition: Int32)] = []
        // A quarter of the seeds have more devices than one group of the history holds (32),
        // with few records each, so that groups take blocks, share them and give them back.
        let many = seed % 4 == 3
        for device in 0 ..< (many ? Int.random(in: 33 ... 80, using: &rng) : Int.random(in: 1 ... 4, using: &rng)) {
            var time = Int64.random(in: -100 ... 100, using: &rng)
            for _ in 0 ..< Int.random(in: 1 ... (many ? 12 : 90), using: &rng) {
                time += Int64.random(in: 0 ... 12, using: &rng)
                // Gaps, so that some compared windows are missing.
                if Int.random(in: 0 ..< 12, using: &rng) == 0 { time += Int64.random(in: 20 ... 90, using: &rng) }
                let value: Double? =
                    Int.random(in: 0 ..< 10, using: &rng) == 0 ? nil : Double(Int.random(in: -40000 ... 40000, using: &rng)) / 64
                let sparse: Double? = Int.random(in: 0 ..< 4, using: &rng) == 0 ? Double(Int.random(in: 0 ... 99, using: &rng)) : nil
                records.append((TestRecord(device: "dev-\(device)", time: time, values: [value, sparse]), Int32(device % 2)))
            }
        }
        let arrival = records.map { ($0, $0.record.time + Int64.random(in: 0 ... delayBound, using: &rng), rng.next()) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map(\.0)
        // The script both runs follow; only where batches end differs between them.
        let steps = arrival.map { step in
            (step, advance: Int64.random(in: 0 ... 8, using: &rng), advances: Int.random(in: 0 ..< 3, using: &rng) == 0,
             endsBatch: Int.random(in: 0 ..< 6, using: &rng) == 0)
        }

        func run(batchAfterEveryRecord: Bool) throws -> (results: [(EmittedWindow, early: Bool)], devices: DeviceTable, allAccepted: Bool) {
            var h = try EngineHarness(series, watermark: watermark, fields: 2)
            var results: [(EmittedWindow, early: Bool)] = []
            func collect(early: Bool) {
                if early { #expect(h.sink.results.allSatisfy { $0.timing == .early }, "seed \(seed)") }
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
        // One (window, revision, timing), one content, in either run, but for early results
        // (the engine says which), which are provisional.
        var revisions: [RevisionKey: EmittedWindow] = [:]
        for (result, _) in reference.results where result.timing != .early {
            let revision = key(result, reference.devices)
            if let other = revisions[revision] {
                #expect(other == result, "seed \(seed): one revision, two contents: \(other) and \(result)")
            }
            revisions[revision] = result
        }
        var compared = 0
        for (result, _) in batched.results where result.timing != .early {
            let revision = key(result, batched.devices)
            guard let want = revisions[revision] else {
                Issue.record("seed \(seed): \(revision.window) revision \(revision.revision) \(revision.timing.name) was never emitted with a batch end after every record: \(result)")
                continue
            }
            #expect(want == result, "seed \(seed): \(revision.window) revision \(revision.revision): \(result), with a batch end after every record \(want)")
            compared += 1
        }
        #expect(compared > 0)
        // finalRevisions checks that revisions never decrease per window, early results included.
        let referenceFinal = finalRevisions(reference.results.map(\.0), devices: reference.devices)
        let batchedFinal = finalRevisions(batched.results.map(\.0), devices: batched.devices)
        #expect(Set(referenceFinal.keys) == Set(batchedFinal.keys), "seed \(seed)")
        for (window, result) in batchedFinal {
            #expect(referenceFinal[window] == result, "seed \(seed) \(window): \(result) vs \(String(describing: referenceFinal[window]))")
        }

        guard bounded && reference.allAccepted else { return }
        let batch = batchWindows(records.map(\.record), series: series)
        let comparisons = batchComparisons(records.map(\.record), series: 0, spec: series[0], windows: batch)
        #expect(Set(batch.keys) == Set(batchedFinal.keys), "seed \(seed): \(Set(batch.keys).symmetricDifference(batchedFinal.keys).sorted())")
        func expectSame(_ got: [Double?], _ want: [Double?], _ what: String) {
            for (i, aggregate) in propertyAggregates.enumerated() {
                let g = got[i], w = want[i]
                if case .percentile = aggregate.function, let g, let w {
                    #expect(abs(g - w) <= abs(w) / 100 + 1e-12, "seed \(seed) \(what) \(aggregate.name)")
                } else {
                    #expect(same(g, w), "seed \(seed) \(what) \(aggregate.name): \(String(describing: g)) vs \(String(describing: w))")
                }
            }
        }
        var comparisonsSeen = 0
        for (window, want) in batch {
            guard let got = batchedFinal[window] else { continue }
            #expect(got.end == want.end, "seed \(seed) \(window)")
            expectSame(got.values, want.values, "\(window)")
            guard window.series == 0, let wantComparisons = comparisons[window] else {
                #expect(got.comparisons.isEmpty, "seed \(seed) \(window)")
                continue
            }
            #expect(got.comparisons.count == wantComparisons.count, "seed \(seed) \(window)")
            for (c, (g, w)) in zip(got.comparisons, wantComparisons).enumerated() {
                let name = series[0].comparisons[c].name
                #expect((g == nil) == (w == nil), "seed \(seed) \(window) \(name): \(String(describing: g)) vs \(String(describing: w))")
                if let g, let w {
                    expectSame(g, w, "\(window) \(name)")
                    comparisonsSeen += 1
                }
            }
        }
        // Unless the compared series has few windows, some comparison finds one.
        #expect(comparisonsSeen > 0 || batch.keys.filter { $0.series == 0 }.count < 12, "seed \(seed): no comparison had a window")
    }
}
