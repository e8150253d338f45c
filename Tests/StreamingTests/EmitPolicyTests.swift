// Emission policies. `updates`: every change is a new revision (r0 is the first record's),
// nothing more at close. `every`: early results per processing-time period, then whatever
// changed since the last one when the window closes; nothing is emitted twice unchanged.
import Streaming
import Testing

@Suite struct EmitPolicyTests {
    @Test func updatesEmitsARevisionPerChange() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), lateness: 50, emit: .updates)])
        h.send("a", at: 1, 1)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 2, 2)
        #expect(h.emitted() == ["a [0,10) r1: 2 3 2"])
        h.send("a", at: 12, 4)  // closes [0,10), unchanged since r1: nothing
        #expect(h.emitted() == ["a [10,20) r0: 1 4 4"])
        h.send("a", at: 5, 1)  // late
        #expect(h.emitted() == ["a [0,10) r2: 3 4 2"])
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
        #expect(h.emitted() == ["a [0,10) r1: 2 3 2"])
        h.send("a", at: 3, 4, now: 310)
        h.send("a", at: 15, 8, now: 320)  // closes [0,10): the final revision
        #expect(h.emitted() == ["a [0,10) r2: 3 7 4"])
        h.closeAll()
        #expect(h.emitted() == ["a [10,20) r0: 1 8 8"])
    }
}
