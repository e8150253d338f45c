// Comparisons with history: what a result reads from the device's earlier windows, and the
// revisions a change to an earlier window gives the windows that read it.
import Streaming
import Testing

/// count, sum and max of field 0 over tumbling windows of 10, with these comparisons.
func compared(
    lateness: Int64, emit: EmitPolicy = .final, _ comparisons: [(String, ComparisonSpec.Reach)]
) -> SeriesSpec {
    var spec = countSumMax(window: .tumbling(size: 10), lateness: lateness, emit: emit)
    spec.comparisons = comparisons.map { ComparisonSpec(name: $0.0, reach: $0.1) }
    return spec
}

@Suite struct ComparisonTests {
    @Test func aResultReadsTheWindowAnOffsetBeforeAndMergesTheSpanBeforeItOrNullWhereThereIsNone() throws {
        let spec = compared(lateness: 0, [("prev", .offset(10)), ("back2", .offset(20)), ("trailing", .over(20))])
        var h = try EngineHarness([spec])
        h.send("a", at: 1, 1)
        h.send("a", at: 12, 2)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1 | prev: null | back2: null | trailing: null"])
        h.send("a", at: 25, 4)
        #expect(h.emitted() == ["a [10,20) r0: 1 2 2 | prev: 1 1 1 | back2: null | trailing: 1 1 1"])
        h.send("a", at: 31, 8)
        #expect(h.emitted() == ["a [20,30) r0: 1 4 4 | prev: 1 2 2 | back2: 1 1 1 | trailing: 2 3 2"])
        // Nothing in [40,50): the window after it reads null there, and its span holds one window.
        h.send("a", at: 55, 16)
        #expect(h.emitted() == ["a [30,40) r0: 1 8 8 | prev: 1 4 4 | back2: 1 2 2 | trailing: 2 6 4"])
        h.closeAll()
        #expect(h.emitted() == ["a [50,60) r0: 1 16 16 | prev: null | back2: 1 8 8 | trailing: 1 8 8"])
    }

    @Test func devicesReadOnlyTheirOwnHistory() throws {
        let spec = compared(lateness: 0, [("prev", .offset(10))])
        var h = try EngineHarness([spec])
        h.send("a", at: 1, 1)
        h.send("b", at: 11, 2)
        h.send("a", at: 12, 4)
        h.send("b", at: 21, 8)
        h.closeAll()
        #expect(h.emitted() == [
            "a [0,10) r0: 1 1 1 | prev: null",
            "b [10,20) r0: 1 2 2 | prev: null",
            "a [10,20) r0: 1 4 4 | prev: 1 1 1",
            "b [20,30) r0: 1 8 8 | prev: 1 2 2",
        ])
    }

    /// Given a window and the one after it closed, late records for the first revise both: the
    /// later one's comparisons read the first. A window that closes after its span was revised
    /// closes at revision 0, with the revised values.
    @Test func aLateRecordRevisesTheWindowsWhoseComparisonsReadItsWindowOnceEach() throws {
        let spec = compared(lateness: 100, [("prev", .offset(10)), ("trailing", .over(20))])
        var h = try EngineHarness([spec])
        h.send("a", at: 1, 1)
        h.send("a", at: 11, 2)
        h.send("a", at: 21, 4)
        #expect(h.emitted() == [
            "a [0,10) r0: 1 1 1 | prev: null | trailing: null",
            "a [10,20) r0: 1 2 2 | prev: 1 1 1 | trailing: 1 1 1",
        ])
        h.send("a", at: 5, 8)
        #expect(h.emitted() == [])  // revisions wait for the end of the batch
        h.endBatch()
        // [10,20) reads [0,10) through two comparisons: one record, one revision.
        #expect(h.emitted() == [
            "a [0,10) r1 late: 2 9 8 | prev: null | trailing: null",
            "a [10,20) r1 late: 1 2 2 | prev: 2 9 8 | trailing: 2 9 8",
        ])
        h.send("a", at: 6, 16)
        h.send("a", at: 7, 32)
        h.endBatch()
        #expect(h.emitted() == [
            "a [0,10) r3 late: 4 57 32 | prev: null | trailing: null",
            "a [10,20) r3 late: 1 2 2 | prev: 4 57 32 | trailing: 4 57 32",
        ])
        // [20,30) reads [10,20) but is still open: it is not emitted, and takes no revision.
        h.send("a", at: 15, 64)
        h.endBatch()
        #expect(h.emitted() == ["a [10,20) r4 late: 2 66 64 | prev: 4 57 32 | trailing: 4 57 32"])
        h.closeAll()
        #expect(h.emitted() == ["a [20,30) r0: 1 4 4 | prev: 2 66 64 | trailing: 6 123 64"])
    }

    /// An open window emitted early (idle flush) whose compared window then changes is emitted
    /// again at close, at the same revision, though none of its own records changed.
    @Test func anEarlyResultWhoseComparisonChangedIsEmittedAgainAtClose() throws {
        let spec = compared(lateness: 100, [("prev", .offset(10))])
        var h = try EngineHarness([spec], watermark: WatermarkSpec(idle: 50))
        h.send("a", at: 1, 1, now: 0)
        h.send("a", at: 12, 2, now: 0)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1 | prev: null"])
        h.advance(to: 100)
        #expect(h.emitted() == ["a [10,20) r0 early: 1 2 2 | prev: 1 1 1"])
        h.send("a", at: 3, 4, now: 100)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 late: 2 5 4 | prev: null"])
        h.send("a", at: 25, 8, now: 100)
        #expect(h.emitted() == ["a [10,20) r0: 1 2 2 | prev: 2 5 4"])
    }

    /// With `emit: updates` a window's revision also counts the changes of the windows it reads.
    @Test func withEmitUpdatesAChangeToAComparedWindowIsANewRevision() throws {
        let spec = compared(lateness: 100, emit: .updates, [("prev", .offset(10))])
        var h = try EngineHarness([spec])
        h.send("a", at: 1, 1)
        h.endBatch()
        h.send("a", at: 11, 2)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1 | prev: null", "a [0,10) r0: 1 1 1 | prev: null", "a [10,20) r0 early: 1 2 2 | prev: 1 1 1"])
        h.send("a", at: 2, 4)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 late: 2 5 4 | prev: null", "a [10,20) r1 early: 1 2 2 | prev: 2 5 4"])
        h.send("a", at: 12, 8)
        h.endBatch()
        #expect(h.emitted() == ["a [10,20) r2 early: 2 10 8 | prev: 2 5 4"])
    }

    /// Windows past their lateness move to the history, where comparisons still find them until
    /// no window that can still be emitted reads them.
    @Test func theHistoryServesComparisonsUntilItAgesOut() throws {
        let spec = compared(lateness: 0, [("back3", .offset(30))])
        var h = try EngineHarness([spec])
        h.send("a", at: 1, 1)
        h.send("a", at: 15, 2)
        h.send("a", at: 35, 4)
        /// The record of a device that only sent this reading (and so has no history).
        func alone(at time: Int64, _ value: Double) throws -> [UInt8]? {
            var fresh = try EngineHarness([spec])
            fresh.send("a", at: time, value)
            return fresh.deviceRecords()["a"]
        }
        let held = try alone(at: 35, 4)
        #expect(h.deviceRecords()["a"] != held)
        h.send("a", at: 75, 8)
        #expect(h.emitted() == [
            "a [0,10) r0: 1 1 1 | back3: null",
            "a [10,20) r0: 1 2 2 | back3: null",
            "a [30,40) r0: 1 4 4 | back3: 1 1 1",
        ])
        // [0,10) and [10,20) are out of reach of every window that can still be emitted: gone.
        let gone = try alone(at: 75, 8)
        #expect(h.deviceRecords()["a"] == gone)
        h.closeAll()
        #expect(h.emitted() == ["a [70,80) r0: 1 8 8 | back3: null"])
    }

    @Test func specsThatCannotCompareAreRefused() throws {
        let hopping = SeriesSpec(
            name: "h", window: .hopping(size: 20, slide: 10), aggregates: [AggregateSpec(name: "n", function: .count, field: nil)],
            comparisons: [ComparisonSpec(name: "prev", reach: .offset(20))])
        #expect(throws: WindowEngineError.comparisonNeedsTumblingWindow(series: "h", comparison: "prev")) {
            try WindowEngine(series: [hopping], watermark: WatermarkSpec(), fieldCount: 1)
        }
        let session = SeriesSpec(
            name: "g", window: .session(gap: 5), aggregates: [AggregateSpec(name: "n", function: .count, field: nil)],
            comparisons: [ComparisonSpec(name: "prev", reach: .over(20))])
        #expect(throws: WindowEngineError.comparisonNeedsTumblingWindow(series: "g", comparison: "prev")) {
            try WindowEngine(series: [session], watermark: WatermarkSpec(), fieldCount: 1)
        }
        for reach in [ComparisonSpec.Reach.offset(15), .over(0), .offset(-10), .over(WindowEngine.maxDuration + 10)] {
            #expect(throws: WindowEngineError.comparisonNotMultipleOfWindow(series: "s", comparison: "c")) {
                try WindowEngine(series: [compared(lateness: 0, [("c", reach)])], watermark: WatermarkSpec(), fieldCount: 1)
            }
        }
        #expect(throws: WindowEngineError.tooManyComparisonWindows(series: "s", comparison: "c")) {
            try WindowEngine(
                series: [compared(lateness: 0, [("c", .over(10 * (WindowEngine.maxComparisonWindows + 1)))])],
                watermark: WatermarkSpec(), fieldCount: 1)
        }
    }
}
