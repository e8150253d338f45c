// Tumbling windows under per-device watermarks: closing, disorder, lateness and revisions.
import Streaming
import Testing

@Suite struct TumblingWindowTests {
    @Test func inOrderRecordsCloseEachWindowWhenTheWatermarkPassesItsEnd() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10))])
        h.send("a", at: 1, 1)
        h.send("a", at: 5, 2)
        #expect(h.emitted() == [])
        h.send("a", at: 10, 4)  // watermark 10 closes [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 2 3 2"])
        h.send("a", at: 25, 8)
        #expect(h.emitted() == ["a [10,20) r0: 1 4 4"])
        h.closeAll()
        #expect(h.emitted() == ["a [20,30) r0: 1 8 8"])
    }

    @Test func disorderWithinOutOfOrderIsCountedBeforeTheWindowCloses() throws {
        var h = try EngineHarness(
            [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(outOfOrder: 5))
        h.send("a", at: 8, 1)
        h.send("a", at: 13, 2)  // watermark 8
        h.send("a", at: 9, 3)  // late by arrival, not by watermark
        #expect(h.emitted() == [])
        h.send("a", at: 15, 4)  // watermark 10 closes [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 2 4 3"])
    }

    @Test func aLateRecordWithinTheAllowanceEmitsACorrectedRevisionWhenTheBatchEnds() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 20)])
        h.send("a", at: 3, 1)
        h.send("a", at: 12, 2)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        #expect(h.send("a", at: 7, 5) == .accepted)  // watermark 12 < 10 + 20
        #expect(h.emitted() == [])
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 late: 2 6 5"])  // one late record: revision 1
        h.endBatch()
        #expect(h.emitted() == [])
        #expect(h.send("a", at: 4, 1) == .accepted)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r2 late: 3 7 5"])
        h.closeAll()
        #expect(h.emitted() == ["a [10,20) r0: 1 2 2"])
    }

    @Test func lateRecordsOfOneBatchAreOneEmissionNumberedByAllOfThem() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 20)])
        h.send("a", at: 3, 1)
        h.send("a", at: 12, 2)
        h.send("a", at: 7, 5)
        h.send("a", at: 4, 1)
        h.send("a", at: 5, 1)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r3 late: 4 8 5"])  // revisions 1 and 2 are never emitted
    }

    @Test func aRevisionNotYetEmittedIsEmittedBeforeItsWindowIsPurged() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 5)])
        h.send("a", at: 3, 1)
        h.send("a", at: 12, 2)
        h.send("a", at: 7, 5)  // late for [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 16, 1)  // watermark 16 >= 10 + 5: [0,10) goes, its revision with it
        #expect(h.emitted() == ["a [0,10) r1 late: 2 6 5"])
        h.endBatch()
        #expect(h.emitted() == [])
    }

    @Test func aRecordPastTheAllowanceIsReturnedAsTooLate() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 5)])
        h.send("a", at: 3, 1)
        h.send("a", at: 15, 2)  // watermark 15 >= 10 + 5: [0,10) is purged
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        #expect(h.send("a", at: 9, 7) == .tooLate)
        #expect(h.send("a", at: 14, 7) == .accepted)
        #expect(h.emitted() == [])
        h.closeAll()
        #expect(h.emitted() == ["a [10,20) r0: 2 9 7"])
    }

    @Test func lateRecordsForAnotherSeriesWithMoreLatenessAreStillAccepted() throws {
        var h = try EngineHarness([
            countSumMax("strict", window: .tumbling(size: 10)),
            countSumMax("lenient", window: .tumbling(size: 10), lateness: 100),
        ])
        h.send("a", at: 3, 1)
        h.send("a", at: 12, 1)
        #expect(h.emitted() == ["a strict [0,10) r0: 1 1 1", "a lenient [0,10) r0: 1 1 1"])
        #expect(h.send("a", at: 5, 2) == .accepted)
        h.endBatch()
        #expect(h.emitted() == ["a lenient [0,10) r1 late: 2 3 2"])
    }

    @Test func negativeEventTimesAlignToTheEpoch() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10))])
        h.send("a", at: -1, 1)
        h.send("a", at: -10, 2)
        h.closeAll()
        #expect(h.emitted() == ["a [-10,0) r0: 2 3 2"])
    }

    @Test func timesOutsideTheSupportedRangeAreInvalid() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10))])
        #expect(h.send("a", at: Int64.max, 1) == .invalidTime)
    }

    @Test func invalidSpecsAreRejected() {
        #expect(throws: WindowEngineError.sizeNotMultipleOfSlide(series: "s")) {
            try WindowEngine(series: [countSumMax(window: .hopping(size: 10, slide: 3))], watermark: .init(), fieldCount: 1)
        }
        #expect(throws: WindowEngineError.invalidDuration(series: "s")) {
            try WindowEngine(series: [countSumMax(window: .tumbling(size: 0))], watermark: .init(), fieldCount: 1)
        }
        #expect(throws: WindowEngineError.invalidAggregate(series: "s", aggregate: "sum")) {
            try WindowEngine(series: [countSumMax(window: .tumbling(size: 10))], watermark: .init(), fieldCount: 0)
        }
        // A day sliding by the minute is 1,440 windows a reading; by the millisecond, 86.4 million.
        #expect(throws: Never.self) {
            try WindowEngine(series: [countSumMax(window: .hopping(size: 86_400_000, slide: 60_000))], watermark: .init(), fieldCount: 1)
        }
        #expect(throws: WindowEngineError.tooManyWindowsPerReading(series: "s")) {
            try WindowEngine(series: [countSumMax(window: .hopping(size: 86_400_000, slide: 1))], watermark: .init(), fieldCount: 1)
        }
        #expect(throws: WindowEngineError.tooManyPanesPerDevice(series: "s")) {
            try WindowEngine(
                series: [SeriesSpec(name: "s", window: .hopping(size: 1000, slide: 1), allowedLateness: 604_800_000, aggregates: [])],
                watermark: .init(), fieldCount: 1)
        }
        #expect(throws: WindowEngineError.invalidDuration(series: "watermark")) {
            try WindowEngine(series: [countSumMax(window: .tumbling(size: 10))], watermark: .init(outOfOrder: .max), fieldCount: 1)
        }
    }
}
