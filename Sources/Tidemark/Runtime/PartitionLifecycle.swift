// Where each input partition stands in this process, and the events that move it: assigned,
// restored, revoked, lost, rewound. A value with no I/O: the consumer loop feeds it the events
// and carries out what they call for (pausing, restoring, resuming); tests drive it alone.
//
//     from                 event                          to
//     (not held)           assign, apps to restore         restoring (paused)
//     (not held)           assign, nothing to restore      live
//     parked               assign                          as (not held), its states taken up
//     restoring / live     request restore of apps         same phase, apps waiting too
//     restoring            last waited-for state restored  live (resumed from the states)
//     live                 last waited-for state restored  live (the state catches up)
//     restoring / live     rewind (a transaction aborted)  restoring (paused), nothing waited for yet
//     live, none waiting   revoke, keeping states          parked
//     any held             revoke, not keeping / lose      (not held)
//     parked               assignment without it           (not held), its states dropped
//
// A restore result is taken only if it answers the newest request for its app: a partition
// revoked and assigned again, or rewound, asks anew, and an older answer is stale.
import Kafka

/// The phases of every input partition this process holds or parks.
///
/// `Parked` is what a parked partition keeps (the loop's states, per app).
struct PartitionLifecycle<Parked> {
    enum Phase {
        /// Held and paused: read once the states of the apps waited for are restored.
        case restoring(waiting: [String: Int])
        /// Held and read; the apps waited for (added while it is read) catch up once restored.
        case live(waiting: [String: Int])
        /// Revoked by an eager rebalance with its states checkpointed, which are kept for the
        /// assignment that follows (nobody else can have had it in between).
        case parked(Parked)
    }

    /// What taking a restore result did.
    enum Restored: Equatable {
        /// Stale, or for a partition not held: nothing to install.
        case stale
        /// Install it; other apps are still waited for.
        case waiting
        /// Install it; nothing is waited for any more. `wasPaused`: the partition was not read
        /// yet, and is to be resumed from its states.
        case complete(wasPaused: Bool)
    }

    private(set) var phases: [TopicPartition: Phase] = [:]
    /// Numbers restore requests, so that an answer to an older one is recognised.
    private var generation = 0

    /// The partitions held (restoring or live).
    var held: [TopicPartition] { phases.compactMap { $0.value.isHeld ? $0.key : nil } }

    func holds(_ partition: TopicPartition) -> Bool { phases[partition]?.isHeld ?? false }

    /// Whether the partition is held but not read until its states are restored.
    func isPaused(_ partition: TopicPartition) -> Bool {
        if case .restoring = phases[partition] { return true }
        return false
    }

    /// Whether some app's state of the partition is being restored.
    func isRestoring(_ partition: TopicPartition) -> Bool { !(phases[partition]?.waiting.isEmpty ?? true) }

    /// The partitions with some app's state being restored.
    var restoring: Set<TopicPartition> { Set(phases.compactMap { $0.value.waiting.isEmpty ? nil : $0.key }) }

    /// Takes a partition assigned to this process: held and live, nothing waited for yet.
    /// Returns what it kept if it was parked.
    mutating func assign(_ partition: TopicPartition) -> Parked? {
        let parked: Parked? = if case .parked(let kept) = phases[partition] { kept } else { nil }
        if !holds(partition) { phases[partition] = .live(waiting: [:]) }
        return parked
    }

    /// After an assignment: parked partitions it did not give back lose their states.
    mutating func dropParked() {
        phases = phases.filter { $0.value.isHeld }
    }

    /// Asks for the states of `apps`; with `pausing`, the partition is not read until they
    /// are restored. Returns the request's generation.
    mutating func requestRestore(_ partition: TopicPartition, apps: [String], pausing: Bool) -> Int {
        generation += 1
        guard let phase = phases[partition], phase.isHeld else { return generation }
        var waiting = phase.waiting
        for app in apps { waiting[app] = generation }
        phases[partition] = pausing || isPaused(partition) ? .restoring(waiting: waiting) : .live(waiting: waiting)
        return generation
    }

    /// Takes the restored state of `app`, answering the request numbered `generation`.
    mutating func restored(_ partition: TopicPartition, app: String, generation: Int) -> Restored {
        guard let phase = phases[partition], phase.isHeld, phase.waiting[app] == generation else { return .stale }
        var waiting = phase.waiting
        waiting[app] = nil
        let paused = isPaused(partition)
        guard waiting.isEmpty else {
            phases[partition] = paused ? .restoring(waiting: waiting) : .live(waiting: waiting)
            return .waiting
        }
        phases[partition] = .live(waiting: [:])
        return .complete(wasPaused: paused)
    }

    /// Exactly once, after an aborted transaction: the partition's states are dropped and it
    /// is paused until restored again (the requests follow).
    mutating func rewind(_ partition: TopicPartition) {
        guard holds(partition) else { return }
        phases[partition] = .restoring(waiting: [:])
    }

    /// Takes a partition away; `keeping` parks it with what it keeps, which a partition still
    /// waiting for a restore cannot (its states are not all there).
    mutating func revoke(_ partition: TopicPartition, keeping: Parked? = nil) {
        if let keeping, holds(partition), !isRestoring(partition) {
            phases[partition] = .parked(keeping)
        } else {
            phases[partition] = nil
        }
    }
}

extension PartitionLifecycle.Phase {
    var isHeld: Bool {
        if case .parked = self { return false }
        return true
    }

    var waiting: [String: Int] {
        switch self {
        case .restoring(let waiting), .live(let waiting): waiting
        case .parked: [:]
        }
    }
}
