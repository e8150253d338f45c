// Emission policies. `updates`: every change is a new revision (the window's records - 1),
// emitted when the batch ends, nothing more at close. `every`: early results per
// processing-time period, provisional and at the window's current revision, then whatever
// changed since the last one when the window closes; nothing is emitted twice unchanged.
import Streaming
import Testing

@Suite struct EmitPolicyTests {
    @Test func updatesEmitsARevisionPerChangeOncePerBatch() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50, emit: .updates)])
        h.send("a", at: 1, 1)
        #expect(h.emitted() == [])
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 2, 2)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r1: 2 3 2"])
        h.send("a", at: 12, 4)  // closes [0,10), unchanged since r1: nothing
        h.endBatch()
        #expect(h.emitted() == ["a [10,20) r0: 1 4 4"])
        h.send("a", at: 5, 1)  // late
        h.send("a", at: 6, 1)
        h.endBatch()
        #expect(h.emitted() == ["a [0,10) r3: 4 5 2"])  // four records: revision 3
    }

    @Test func everyEmitsEarlyResultsOnTheClockThenTheChangesAtClose() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), emit: .every(100))])
        h.advance(to: 0)  // starts the period
        h.send("a", at: 1, 1, now: 10)
        h.advance(to: 99)
        #expect(h.emitted() == [])
        h.advance(to: 100)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.advance(to: 200)
        #expect(h.emitted() == [])
        h.send("a", at: 2, 2, now: 250)
        h.advance(to: 300)
        #expect(h.emitted() == ["a [0,10) r0: 2 3 2"])  // still revision 0: no record was late
        h.send("a", at: 3, 4, now: 310)
        h.send("a", at: 15, 8, now: 320)  // closes [0,10): the result early ones were provisional for
        #expect(h.emitted() == ["a [0,10) r0: 3 7 4"])
        h.closeAll()
        #expect(h.emitted() == ["a [10,20) r0: 1 8 8"])
    }
}
