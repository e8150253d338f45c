// Watermark scope (device versus partition) and idle flushing driven by a fake clock.
import Streaming
import Testing

@Suite struct WatermarkTests {
    @Test func perDeviceASlowDeviceDoesNotMakeAnotherDevicesDataLate() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(scope: .device))
        h.send("fast", at: 5, 1)
        h.send("fast", at: 100, 1)
        #expect(h.emitted() == ["fast [0,10) r0: 1 1 1"])
        #expect(h.send("slow", at: 3, 2) == .accepted)  // its own watermark is still at the start
        h.send("slow", at: 12, 2)
        #expect(h.emitted() == ["slow [0,10) r0: 1 2 2"])
    }

    @Test func perPartitionTheFastestDeviceMovesEveryonesWatermark() throws {
        var h = try EngineHarness(
            [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(scope: .partition))
        h.send("slow", at: 3, 2, partition: 0)
        h.send("fast", at: 5, 1, partition: 0)
        h.send("fast", at: 100, 1, partition: 0)  // closes [0,10) for every device on partition 0
        #expect(h.emitted() == ["slow [0,10) r0: 1 2 2", "fast [0,10) r0: 1 1 1"])
        #expect(h.send("slow", at: 4, 2, partition: 0) == .tooLate)
        #expect(h.send("other", at: 4, 2, partition: 1) == .accepted)  // partition 1 is still at the start
    }

    @Test func anIdleDeviceHasItsOpenWindowsEmittedWithoutMovingItsWatermark() throws {
        var h = try EngineHarness(
            [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(idle: 1_000))
        h.send("a", at: 3, 1, now: 0)
        h.send("b", at: 4, 5, now: 500)
        h.advance(to: 999)
        #expect(h.emitted() == [])
        h.advance(to: 1_000)  // a silent for 1 s
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        h.advance(to: 1_600)
        #expect(h.emitted() == ["b [0,10) r0 early: 1 5 5"])
        // The watermark did not move: a's window is still open and takes more data.
        #expect(h.send("a", at: 7, 2, now: 2_000) == .accepted)
        h.send("a", at: 15, 1, now: 2_001)
        // The idle flush was provisional: the result at close has the same revision.
        #expect(h.emitted() == ["a [0,10) r0: 2 3 2"])
        h.advance(to: 10_000)
        #expect(h.emitted() == ["a [10,20) r0 early: 1 1 1"])
        h.closeAll()
        // Unchanged since the idle flushes, which were provisional: the results at close follow.
        #expect(h.emitted() == ["a [10,20) r0: 1 1 1", "b [0,10) r0: 1 5 5"])
    }

    @Test func aPartitionStepClosesOnlyDevicesWithSomethingDueInOrderOfArrival() throws {
        var h = try EngineHarness(
            [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(scope: .partition))
        h.send("a", at: 3, 1, partition: 0)
        h.send("b", at: 14, 2, partition: 0)  // closes a's [0,10) only
        #expect(h.emitted() == ["a [0,10) r0: 1 1 1"])
        h.send("c", at: 16, 3, partition: 0)  // nothing due: the earliest open window ends at 20
        h.send("d", at: 1, 4, partition: 1)
        h.send("a", at: 18, 1, partition: 0)
        #expect(h.emitted() == [])
        h.send("e", at: 35, 5, partition: 0)  // a arrived on partition 0 before b and c
        #expect(h.emitted() == ["a [10,20) r0: 1 1 1", "b [10,20) r0: 1 2 2", "c [10,20) r0: 1 3 3"])
        h.send("a", at: 38, 1, partition: 1)  // a moves: partition 1's watermark rises to 38
        #expect(h.emitted() == ["d [0,10) r0: 1 4 4"])
        h.send("e", at: 50, 5, partition: 0)  // a has left partition 0
        #expect(h.emitted() == ["e [30,40) r0: 1 5 5"])
        h.send("d", at: 60, 4, partition: 1)
        #expect(h.emitted() == ["a [30,40) r0: 1 1 1"])
        h.closeAll()
        #expect(h.emitted() == ["d [60,70) r0: 1 4 4", "e [50,60) r0: 1 5 5"])  // by device id
    }

    @Test func manyQuietDevicesOnAPartitionDoNotDelayOrReorderClosing() throws {
        var h = try EngineHarness(
            [countSumMax(window: .hopping(size: 20, slide: 10), lateness: 5)], watermark: WatermarkSpec(scope: .partition))
        for i in 0 ..< 200 { h.send("q\(i)", at: 1_000, 1, partition: 0) }  // windows end at 1010, 1020
        h.send("late", at: 5, 1, partition: 0)
        h.send("fast", at: 1_005, 1, partition: 0)
        #expect(h.emitted() == [])
        h.send("fast", at: 1_010, 1, partition: 0)
        let closed = h.emitted()
        #expect(closed.count == 201)  // every device's [990,1010), none of the later windows
        #expect(closed.first == "q0 [990,1010) r0: 1 1 1")
        #expect(closed.last == "fast [990,1010) r0: 1 1 1")
        #expect(h.send("late", at: 6, 1, partition: 0) == .tooLate)
    }
}
