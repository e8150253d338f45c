// Session windows: gap merging, closing at last + gap, and late records that extend or
// bridge sessions (the merged session keeps the earliest start; the absorbed one is retracted).
import Streaming
import Testing

@Suite struct SessionWindowTests {
    @Test func recordsCloserThanTheGapShareASession() throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10))])
        h.send("a", at: 0, 1)
        h.send("a", at: 9, 2)
        h.send("a", at: 19, 3)  // 10 after the last: a new session; watermark 19 closes [0,19)
        #expect(h.emitted() == ["a [0,19) r0: 2 3 2"])
        h.closeAll()
        #expect(h.emitted() == ["a [19,29) r0: 1 3 3"])
    }

    @Test func aLateRecordBridgingTwoSessionsMergesThemUnderTheEarliestStart() throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10), lateness: 100)])
        h.send("a", at: 0, 1)
        h.send("a", at: 15, 2)
        h.send("a", at: 40, 4)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1", "a [15,25) r0: 1 2 2"])
        h.send("a", at: 8, 8)  // within 10 of both 0 and 15
        #expect(h.emitted() == ["a [15,25) r1 late retracted"])  // the key goes at once
        h.endBatch()
        #expect(h.emitted() == ["a [0,25) r1 late: 3 11 8"])  // above both parts' revisions
        h.closeAll()
        #expect(h.emitted() == ["a [40,50) r0: 1 4 4"])
    }

    @Test func aLateRecordBeforeASessionMovesItsStartAndRetractsTheOldKey() throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10), lateness: 100)])
        h.send("a", at: 20, 2)
        h.send("a", at: 40, 4)
        #expect(h.emitted() == ["a [20,30) r0: 1 2 2"])
        h.send("a", at: 15, 1)  // joins [20,30) from below; the window is closed, so it is late
        #expect(h.emitted() == ["a [20,30) r1 late retracted"])
        h.endBatch()
        #expect(h.emitted() == ["a [15,30) r1 late: 2 3 2"])
    }

    /// Read again after a restore, a session made and moved within one batch is retracted
    /// anyway: the first reading of those records may have emitted it in a batch of its own.
    @Test(arguments: [false, true])
    func aKeyThatDisappearsWhileReplayingIsRetractedEvenIfNeverEmitted(replaying: Bool) throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10), lateness: 100)])
        h.send("a", at: 0, 1)
        h.send("a", at: 40, 4)  // closes [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.engine.replaying = replaying
        h.send("a", at: 20, 2)  // late: a session of its own, pending until the batch ends
        h.send("a", at: 12, 1)  // joins it from below before it was emitted: its key goes
        #expect(h.emitted() == (replaying ? ["a [20,30) r2 late retracted"] : []))
        h.endBatch()
        #expect(h.emitted() == ["a [12,30) r2 late: 2 3 2"])
    }

    @Test func aLateRecordThatReopensASessionAndEachRecordWhileReopenedAreRevisions() throws {
        var h = try EngineHarness(
            [countSumMax(window: .session(gap: 10), lateness: 100)], watermark: WatermarkSpec(outOfOrder: 8))
        h.send("a", at: 0, 1)
        h.send("a", at: 20, 2)  // watermark 12 closes [0,10)
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("a", at: 7, 4)  // late, and its end 17 is past the watermark: the session reopens
        h.endBatch()
        #expect(h.emitted() == ["a [0,17) r1 late: 2 5 4"])
        h.send("a", at: 9, 8)  // on time for the reopened session's end, but it closed before
        h.endBatch()
        #expect(h.emitted() == ["a [0,19) r2 late: 3 13 8"])
        h.send("a", at: 30, 1)  // watermark 22 closes it again, unchanged since revision 2
        h.endBatch()
        #expect(h.emitted() == [])
    }

    @Test func aRecordPastTheLatenessOfAnyPossibleSessionIsTooLate() throws {
        var h = try EngineHarness([countSumMax(window: .session(gap: 10), lateness: 5)])
        h.send("a", at: 0, 1)
        h.send("a", at: 100, 1)
        #expect(h.send("a", at: 84, 1) == .tooLate)  // 84 + 10 + 5 <= 100
        #expect(h.send("a", at: 86, 1) == .accepted)
    }
}
