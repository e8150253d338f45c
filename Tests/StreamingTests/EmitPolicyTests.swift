// Emission policies and the timing of results. `updates`: every change is a new revision (the
// window's records - 1), emitted early when the batch ends, then on time at close, then late.
// `every`: early results per processing-time period, provisional and at the window's current
// revision, then the result at close, on time, at that same revision. An idle flush is early
// too. A result at close is emitted even when nothing changed since an early one; a late
// record makes a late revision.
import Streaming
import Testing

@Suite struct EmitPolicyTests {
    @Test func updatesEmitsARevisionPerChangeOncePerBatch() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50, emit: .updates)])
        h.send("a", at: 1, 1)
        #expect(h.emitted() == [])
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.send("a", at: 2, 2)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 early: 2 3 2"])
        // Closes [0,10), unchanged since r1: emitted again, on time.
        h.send("a", at: 12, 4)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1: 2 3 2", "a [10,20) r0 early: 1 4 4"])
        h.send("a", at: 5, 1)  // late
        h.send("a", at: 6, 1)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r3 late: 4 5 2"])  // four records: revision 3
    }

    /// With `emit: updates`, a change in the batch that closes the window is emitted once, at
    /// close, on time: never early and on time with the same revision and different values.
    @Test func updatesIsEarlyBeforeCloseOnTimeAtCloseAndLateAfter() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50, emit: .updates)])
        h.send("a", at: 1, 1)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.send("a", at: 2, 2)
        h.send("a", at: 11, 4)  // closes [0,10) with its second record not yet emitted
        #expect(h.emitted() == ["a [0,10) r1: 2 3 2"])
        h.endBatch()
        #expect(h.emitted() == ["a [10,20) r0 early: 1 4 4"])
        h.send("a", at: 3, 8)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r2 late: 3 11 8"])
        h.closeAll()
        #expect(h.emitted() == ["a [10,20) r0: 1 4 4"])
    }

    @Test func everyEmitsEarlyResultsOnTheClockThenTheResultAtClose() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), emit: .every(100))])
        h.advance(to: 0)  // starts the period
        h.send("a", at: 1, 1, now: 10)
        h.advance(to: 99)
        #expect(h.emitted() == [])
        h.advance(to: 100)
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.advance(to: 200)
        #expect(h.emitted() == [])  // unchanged: not emitted twice early
        h.send("a", at: 2, 2, now: 250)
        h.advance(to: 300)
        #expect(h.emitted() == ["a [0,10) r0 early: 2 3 2"])  // still revision 0: no record was late
        h.send("a", at: 3, 4, now: 310)
        h.send("a", at: 15, 8, now: 320)  // closes [0,10): the result early ones were provisional for
        #expect(h.emitted() == ["a [0,10) r0: 3 7 4"])
        h.advance(to: 400)
        #expect(h.emitted() == ["a [10,20) r0 early: 1 8 8"])
        h.closeAll()  // unchanged since, and emitted at close all the same
        #expect(h.emitted() == ["a [10,20) r0: 1 8 8"])
    }

    @Test func anIdleFlushIsEarlyAndTheCloseOnTimeWithTheSameRevision() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50)], watermark: WatermarkSpec(idle: 100))
        h.send("a", at: 1, 1, now: 0)
        h.advance(to: 100)
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.send("a", at: 2, 2, now: 150)
        h.send("a", at: 12, 4, now: 160)
        #expect(h.emitted() == ["a [0,10) r0: 2 3 2"])
        h.advance(to: 260)
        #expect(h.emitted() == ["a [10,20) r0 early: 1 4 4"])
        // A closed window is never flushed again: a late record makes a late revision.
        h.send("a", at: 3, 8, now: 270)
        h.advance(to: 370)
        #expect(h.emitted() == [])
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 late: 3 11 8"])
    }

    @Test func aLateRecordMakesALateResultWithTheNextRevision() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50)])
        h.send("a", at: 1, 1)
        h.send("a", at: 12, 2)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 3, 4)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1 late: 2 5 4"])
        // A window that closed without data first appears late, as revision 1.
        h.send("a", at: 30, 8)
        h.send("a", at: 25, 16)
        h.endBatch()
        #expect(h.emitted() == ["a [10,20) r0: 1 2 2", "a [20,30) r1 late: 1 16 16"])
    }

    /// Hopping windows close in order through cached partial merges; the result at close is
    /// on time there too, even unchanged since an early one.
    @Test func hoppingWindowsAreOnTimeAtCloseAfterAnEarlyResult() throws {
        var h = try EngineHarness([countSumMax(window: .hopping(size: 20, slide: 10), lateness: 50)], watermark: WatermarkSpec(idle: 100))
        h.send("a", at: 1, 1, now: 0)
        h.advance(to: 100)
        #expect(h.emitted() == ["a [-10,10) r0 early: 1 1 1", "a [0,20) r0 early: 1 1 1"])
        h.send("a", at: 25, 2, now: 150)
        #expect(h.emitted() == ["a [-10,10) r0: 1 1 1", "a [0,20) r0: 1 1 1"])
        h.send("a", at: 5, 4, now: 160)
        h.endBatch()
        #expect(h.emitted() == ["a [-10,10) r1 late: 2 5 4", "a [0,20) r1 late: 2 5 4"])
    }

    /// A session is on time when it first closes; a late record reopening it makes every later
    /// emission late, idle flushes included.
    @Test func aReopenedSessionIsLateEvenWhenFlushed() throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10), lateness: 50)], watermark: WatermarkSpec(idle: 100))
        h.send("a", at: 0, 1, now: 0)
        h.advance(to: 100)
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.send("a", at: 15, 2, now: 150)  // closes [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 8, 4, now: 160)  // late, merges [0,10) and [15,25), and reopens the merge
        h.advance(to: 260)  // before the batch ends: the idle flush emits the late revision
        #expect(h.emitted() == ["a [0,25) r1 late: 3 7 4"])
        h.endBatch()
        #expect(h.emitted() == [])
        h.closeAll()  // closes again unchanged: nothing new, the late result holds it
        #expect(h.emitted() == [])
    }
}
