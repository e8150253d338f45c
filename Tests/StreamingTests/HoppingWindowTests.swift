// Hopping windows over panes: every window containing a record, late revisions of all
// affected windows, and pane combination equal to a direct computation.
import Streaming
import Testing

@Suite struct HoppingWindowTests {
    @Test func eachRecordCountsInEveryWindowThatContainsIt() throws {
        var h = try EngineHarness([countSumMax(window: .hopping(size: 30, slide: 10))])
        h.send("a", at: 5, 1)
        h.send("a", at: 15, 2)
        h.send("a", at: 25, 4)
        #expect(h.emitted() == ["a [-20,10) r0: 1 1 1", "a [-10,20) r0: 2 3 2"])
        h.send("a", at: 40, 8)
        #expect(h.emitted() == ["a [0,30) r0: 3 7 4", "a [10,40) r0: 2 6 4"])
        h.closeAll()
        #expect(h.emitted() == ["a [20,50) r0: 2 12 8", "a [30,60) r0: 1 8 8", "a [40,70) r0: 1 8 8"])
    }

    @Test func aLateRecordRevisesEveryClosedWindowContainingIt() throws {
        var h = try EngineHarness([countSumMax(window: .hopping(size: 20, slide: 10), lateness: 100)])
        h.send("a", at: 5, 1)
        h.send("a", at: 35, 1)
        #expect(h.emitted() == ["a [-10,10) r0: 1 1 1", "a [0,20) r0: 1 1 1"])
        h.send("a", at: 12, 3)  // pane [10,20): windows [0,20) closed, [10,30) closed but never had data
        h.endBatch()
        // Both windows have one late record: [10,30) first appears as revision 1.
        #expect(h.emitted() == ["a [0,20) r1 late: 2 4 3", "a [10,30) r1 late: 1 3 3"])
    }

    @Test func combiningPanesEqualsComputingTheWindowDirectly() throws {
        var rng = SeededGenerator(seed: 7)
        let aggregates = propertyAggregates
        let hopping = SeriesSpec(name: "h", window: .hopping(size: 100, slide: 10), aggregates: aggregates)
        var h = try EngineHarness([hopping], fields: 2)
        var records: [TestRecord] = []
        for i in 0 ..< 400 {
            let record = TestRecord(
                device: "a", time: Int64(i) * 3,
                values: [Double(Int.random(in: -1000 ... 1000, using: &rng)) / 64, i % 3 == 0 ? 1 : nil])
            records.append(record)
            h.sendValues(record.device, at: record.time, record.values)
        }
        h.closeAll()
        for window in h.sink.results {
            let direct = batchAggregates(records.filter { $0.time >= window.start && $0.time < window.end })
            #expect(window.values.count == direct.count)
            for (got, want) in zip(window.values, direct) {
                #expect(same(got, want) || (got != nil && want != nil && abs(got! - want!) <= abs(want!) / 100))
            }
        }
        #expect(h.sink.results.count == 129)
    }
}
