// The partition lifecycle's transition table, row by row: given a partition in a phase, an
// event moves it to the next phase and says what the consumer loop is to do.
import Kafka
import Testing
@testable import Tidemark

@Suite struct PartitionLifecycleTests {
    typealias Lifecycle = PartitionLifecycle<String>
    let p0 = TopicPartition(topic: "readings", partition: 0)
    let p1 = TopicPartition(topic: "readings", partition: 1)

    /// The phase of `partition` as a word, with the apps waited for.
    func phase(_ lifecycle: Lifecycle, _ partition: TopicPartition) -> String {
        switch lifecycle.phases[partition] {
        case nil: "not held"
        case .restoring(let waiting): "restoring \(waiting.keys.sorted())"
        case .live(let waiting): waiting.isEmpty ? "live" : "live \(waiting.keys.sorted())"
        case .parked(let kept): "parked \(kept)"
        }
    }

    @Test func anAssignedPartitionWithAppsToRestoreIsPausedUntilTheLastStateArrives() {
        var lifecycle = Lifecycle()
        #expect(lifecycle.assign(p0) == nil)
        #expect(phase(lifecycle, p0) == "live")
        let generation = lifecycle.requestRestore(p0, apps: ["a", "b"], pausing: true)
        #expect(phase(lifecycle, p0) == "restoring [\"a\", \"b\"]")
        #expect(lifecycle.isPaused(p0) && lifecycle.isRestoring(p0) && lifecycle.holds(p0))
        #expect(lifecycle.restoring == [p0])
        #expect(lifecycle.restored(p0, app: "a", generation: generation) == .waiting)
        #expect(phase(lifecycle, p0) == "restoring [\"b\"]")
        #expect(lifecycle.restored(p0, app: "b", generation: generation) == .complete(wasPaused: true))
        #expect(phase(lifecycle, p0) == "live")
        #expect(!lifecycle.isPaused(p0) && !lifecycle.isRestoring(p0))
        #expect(lifecycle.restoring.isEmpty)
    }

    @Test func anAppAddedWhileThePartitionIsReadCatchesUpWithoutPausingIt() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        let generation = lifecycle.requestRestore(p0, apps: ["new"], pausing: false)
        #expect(phase(lifecycle, p0) == "live [\"new\"]")
        #expect(!lifecycle.isPaused(p0) && lifecycle.isRestoring(p0))
        #expect(lifecycle.restored(p0, app: "new", generation: generation) == .complete(wasPaused: false))
        #expect(phase(lifecycle, p0) == "live")
    }

    @Test func aRequestForAnotherAppOfAPausedPartitionKeepsItPaused() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        let first = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        let second = lifecycle.requestRestore(p0, apps: ["b"], pausing: false)
        #expect(phase(lifecycle, p0) == "restoring [\"a\", \"b\"]")
        #expect(lifecycle.restored(p0, app: "a", generation: first) == .waiting)
        #expect(lifecycle.restored(p0, app: "b", generation: second) == .complete(wasPaused: true))
    }

    @Test func anAnswerToAnOlderRequestIsStale() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        let old = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        lifecycle.revoke(p0)
        #expect(phase(lifecycle, p0) == "not held")
        #expect(lifecycle.restored(p0, app: "a", generation: old) == .stale, "not held")
        _ = lifecycle.assign(p0)
        let new = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        #expect(lifecycle.restored(p0, app: "a", generation: old) == .stale, "asked anew")
        #expect(phase(lifecycle, p0) == "restoring [\"a\"]")
        #expect(lifecycle.restored(p0, app: "a", generation: new) == .complete(wasPaused: true))
        #expect(lifecycle.restored(p0, app: "a", generation: new) == .stale, "taken already")
    }

    @Test func aRewoundPartitionIsPausedAndAsksAnew() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        let before = lifecycle.requestRestore(p0, apps: ["a"], pausing: false)
        lifecycle.rewind(p0)
        #expect(phase(lifecycle, p0) == "restoring []")
        #expect(lifecycle.isPaused(p0) && !lifecycle.isRestoring(p0))
        #expect(lifecycle.restored(p0, app: "a", generation: before) == .stale)
        let after = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        #expect(lifecycle.restored(p0, app: "a", generation: after) == .complete(wasPaused: true))
        lifecycle.rewind(p1)
        #expect(phase(lifecycle, p1) == "not held", "a partition not held is not rewound")
    }

    @Test func anEagerRevocationParksALivePartitionUntilTheNextAssignment() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        _ = lifecycle.assign(p1)
        lifecycle.revoke(p0, keeping: "states of p0")
        lifecycle.revoke(p1, keeping: "states of p1")
        #expect(phase(lifecycle, p0) == "parked states of p0")
        #expect(!lifecycle.holds(p0) && lifecycle.held.isEmpty)
        // The assignment that follows gives p0 back, not p1.
        #expect(lifecycle.assign(p0) == "states of p0")
        lifecycle.dropParked()
        #expect(phase(lifecycle, p0) == "live")
        #expect(phase(lifecycle, p1) == "not held")
    }

    @Test func aPartitionStillRestoringIsNotParkedAndALostOneIsGone() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        _ = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        lifecycle.revoke(p0, keeping: "incomplete")
        #expect(phase(lifecycle, p0) == "not held")
        _ = lifecycle.assign(p1)
        lifecycle.revoke(p1)
        #expect(phase(lifecycle, p1) == "not held")
        #expect(lifecycle.phases.isEmpty)
    }

    @Test func assigningAHeldPartitionAgainChangesNothing() {
        var lifecycle = Lifecycle()
        _ = lifecycle.assign(p0)
        _ = lifecycle.requestRestore(p0, apps: ["a"], pausing: true)
        #expect(lifecycle.assign(p0) == nil)
        #expect(phase(lifecycle, p0) == "restoring [\"a\"]")
    }
}
