// Each aggregate on a small window: SQL-style nulls, sample stddev, first/last ties broken by
// value (so arrival order never matters), and percentiles within the sketch's 1% accuracy.
import Streaming
import Testing

/// One aggregate of each function, all over field 0.
let everyAggregate: [AggregateSpec] = [
    AggregateSpec(name: "count", function: .count, field: nil),
    AggregateSpec(name: "sum", function: .sum, field: 0),
    AggregateSpec(name: "mean", function: .mean, field: 0),
    AggregateSpec(name: "min", function: .min, field: 0),
    AggregateSpec(name: "max", function: .max, field: 0),
    AggregateSpec(name: "stddev", function: .stddev, field: 0),
    AggregateSpec(name: "first", function: .first, field: 0),
    AggregateSpec(name: "last", function: .last, field: 0),
    AggregateSpec(name: "p50", function: .percentile(50), field: 0),
]

private func window(_ records: [(Int64, Double?)]) throws -> [Double?] {
    var h = try EngineHarness([SeriesSpec(name: "s", window: .tumbling(size: 100), aggregates: everyAggregate)])
    for (time, value) in records { h.send("a", at: time, value) }
    h.closeAll()
    #expect(h.sink.results.count == 1)
    return h.sink.results.first?.values ?? []
}

@Suite struct AggregateTests {
    @Test func everyAggregateOverOneWindowSkippingNulls() throws {
        let values = try window([(1, 4), (2, nil), (3, 2), (5, 8), (5, 6), (1, 3)])
        #expect(values[0] == 6)  // count() counts records, null or not
        #expect(values[1] == 23)
        #expect(values[2] == 4.6)
        #expect(values[3] == 2)
        #expect(values[4] == 8)
        #expect(abs(values[5]! - 5.8.squareRoot()) < 1e-15)  // sample stddev: Σ(x-4.6)² = 23.2, / 4
        #expect(values[6] == 3)  // t=1 ties between 4 and 3: first takes the smaller
        #expect(values[7] == 8)  // t=5 ties between 8 and 6: last takes the larger
        #expect(values[8] == 4 || abs(values[8]! - 4) <= 0.04)
    }

    @Test func tiesAndSumsDoNotDependOnArrivalOrder() throws {
        let records: [(Int64, Double?)] = [(1, 0.1), (1, 0.7), (9, 1e6), (9, -1e6), (4, 0.2), (9, 0.3)]
        let forward = try window(records)
        let backward = try window(records.reversed())
        #expect(forward.map { $0?.bitPattern } == backward.map { $0?.bitPattern })
        #expect(forward[1] == 1.3)  // a plain Double sum in file order gives 1.3000000000465661
        #expect(forward[6] == 0.1)
        #expect(forward[7] == 1e6)
    }

    @Test func aWindowWithoutInputForAFieldIsNull() throws {
        let values = try window([(1, nil), (2, nil)])
        #expect(values[0] == 2)
        #expect(values[1...].allSatisfy { $0 == nil })
    }

    @Test func stddevOfOneValueIsNull() throws {
        let values = try window([(1, 5)])
        #expect(values[5] == nil)
        #expect(values[2] == 5)
    }

    @Test func percentilesAreWithinOnePercent() throws {
        var sketch = PercentileSketch()
        for i in 1 ... 10_000 { sketch.add(Double(i) * 0.37) }
        for q in [0.01, 0.25, 0.5, 0.9, 0.99] {
            let exact = Double(Int((q * 9_999).rounded(.down)) + 1) * 0.37
            #expect(abs(sketch.quantile(q)! - exact) <= exact / 100)
        }
        var mixed = PercentileSketch()
        for v in [-5.0, -1, 0, 2, 1e9] { mixed.add(v) }
        #expect(mixed.quantile(0)! <= -4.95)
        #expect(mixed.quantile(0.5) == 0)
        #expect(abs(mixed.quantile(1)! - 1e9) <= 1e7)
    }

    @Test func theSketchIsBoundedAndOrderIndependent() {
        var rng = SeededGenerator(seed: 3)
        let values = (0 ..< 5_000).map { _ in Double.random(in: 1e-300 ... 1e300, using: &rng) }
        var forward = PercentileSketch()
        var backward = PercentileSketch()
        for v in values { forward.add(v) }
        for v in values.reversed() { backward.add(v) }
        #expect(forward == backward)
        var merged = PercentileSketch()
        var halves = (PercentileSketch(), PercentileSketch())
        for (i, v) in values.enumerated() { if i % 2 == 0 { halves.0.add(v) } else { halves.1.add(v) } }
        merged.merge(halves.1)
        merged.merge(halves.0)
        for q in stride(from: 0.0, through: 1, by: 0.05) { #expect(merged.quantile(q) == forward.quantile(q)) }
    }
}

/// Sums past the range of a double: the aggregates that depend on them say so with
/// `AggregateValue.overflow` instead of reading as windows without input.
@Suite struct AggregateOverflowTests {
    /// The raw values of the one window emitted over `values`, all at time 1.
    private func rawWindow(_ values: [Double]) throws -> [Double] {
        struct RawSink: WindowResultSink {
            var values: [[Double]] = []
            mutating func emit(_ result: WindowResult) { values.append(Array(result.values)) }
        }
        let engine = try WindowEngine(
            series: [SeriesSpec(name: "s", window: .tumbling(size: 100), aggregates: everyAggregate)],
            watermark: WatermarkSpec(), fieldCount: 1)
        var devices = DeviceTable()
        let device = devices.intern("a")
        var sink = RawSink()
        for value in values {
            _ = [value].withUnsafeBufferPointer { fields in
                engine.process(Reading(device: device, time: 1, fields: fields), now: 0, into: &sink)
            }
        }
        engine.closeAll(into: &sink)
        #expect(sink.values.count == 1)
        return sink.values.first ?? []
    }

    /// Each value as the encoder sees it: a number, null, or overflow.
    private func describe(_ values: [Double]) -> [String] {
        values.map { AggregateValue.isOverflow($0) ? "overflow" : $0.isNaN ? "null" : "\($0)" }
    }

    @Test func aSumPastTheLargestDoubleOverflowsSumMeanAndStddevOnly() throws {
        // count, sum, mean, min, max, stddev, first, last, p50
        let values = describe(try rawWindow([1e308, 1e308]))
        #expect(
            values == [
                "2.0", "overflow", "overflow", "1e+308", "1e+308", "overflow", "1e+308", "1e+308", "9.976387126803483e+307",
            ], "\(values)")
    }

    @Test func squaresPastTheLargestDoubleOverflowStddevWhileTheSumIsFine() throws {
        let values = describe(try rawWindow([1e200, 2e200]))
        #expect(
            values == [
                "2.0", "3e+200", "1.5e+200", "1e+200", "2e+200", "overflow", "1e+200", "2e+200", "1.002681746312977e+200",
            ], "\(values)")
    }

    @Test func largeAndTinyValuesHaveFinitePercentiles() throws {
        let large = try rawWindow([1.7e308])[8]
        #expect(large.isFinite && abs(large / 1.7e308 - 1) < 0.01)
        let tiny = try rawWindow([3e-300])[8]
        #expect(tiny > 0 && abs(tiny / 3e-300 - 1) < 0.01)
    }
}
