// Processing-time deadlines: a host calls `advance` on many engines often, so before
// `nextDeadline` a call must emit nothing and change nothing (no device changed, and every
// device's encoded state is the same).
import Streaming
import Testing

@Suite struct DeadlineTests {
    @Test func anEngineWithNothingPendingHasNoDeadline() throws {
        var h = try EngineHarness([countSumMax(window: .hopping(size: 30, slide: 10))])
        #expect(h.engine.nextDeadline == nil)
        h.send("a", at: 5, 1, now: 100)  // no idle timeout configured: still nothing pending
        #expect(h.engine.nextDeadline == nil)
        let before = h.state().records
        h.advance(to: .max)
        #expect(h.emitted() == [])
        let after = h.state()
        #expect(after.changed == [])
        #expect(after.records == before)
    }

    @Test func advanceBeforeTheIdleDeadlineEmitsAndChangesNothing() throws {
        var h = try EngineHarness(
            [countSumMax(window: .hopping(size: 30, slide: 10))], watermark: WatermarkSpec(outOfOrder: 5, idle: 1_000))
        #expect(h.engine.nextDeadline == nil)
        h.send("a", at: 5, 1, now: 100)
        h.send("b", at: 7, 2, now: 400)
        #expect(h.engine.nextDeadline == 1_100)  // a's idle timeout comes first
        let before = h.state().records
        for now: Int64 in [0, 500, 1_099] { h.advance(to: now) }
        #expect(h.emitted() == [])
        let after = h.state()
        #expect(after.changed == [])
        #expect(after.records == before)

        h.advance(to: 1_100)
        #expect(h.emitted() == ["a [-20,10) r0 early: 1 1 1", "a [-10,20) r0 early: 1 1 1", "a [0,30) r0 early: 1 1 1"])
        #expect(h.engine.nextDeadline == 1_400)  // then b's
        h.send("b", at: 8, 2, now: 1_200)  // b's timeout restarts
        #expect(h.engine.nextDeadline == 2_200)
    }

    @Test func anEveryPeriodStartsAtTheFirstAdvanceThenTicksOnTheDeadline() throws {
        var h = try EngineHarness([countSumMax(window: .tumbling(size: 10), emit: .every(100))])
        #expect(h.engine.nextDeadline == .min)  // the first advance starts the period
        h.advance(to: 50)
        #expect(h.engine.nextDeadline == 150)
        h.send("a", at: 1, 1, now: 60)
        let before = h.state().records
        h.advance(to: 149)
        #expect(h.emitted() == [])
        let after = h.state()
        #expect(after.changed == [])
        #expect(after.records == before)
        h.advance(to: 150)
        #expect(h.emitted() == ["a [0,10) r0 early: 1 1 1"])
        #expect(h.engine.nextDeadline == 250)
        h.advance(to: 470)  // missed periods are skipped, not replayed
        #expect(h.engine.nextDeadline == 550)
    }
}

extension EngineHarness {
    /// Every device's encoded state, and the devices changed since the last call, by name.
    func state() -> (records: [String: [UInt8]], changed: [String]) {
        var changed: [DeviceID] = []
        engine.takeChangedDevices(into: &changed)
        return (deviceRecords(), changed.map(devices.name(of:)))
    }
}
