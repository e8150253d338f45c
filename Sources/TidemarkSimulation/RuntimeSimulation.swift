// A deterministic simulation of `tidemark run`, as FoundationDB and TigerBeetle test theirs: the
// real consumer loop, shards, restorer and sinks run over an in-memory cluster, one seed
// choosing the readings, the apps' settings and a schedule of faults (crashes, SIGTERM at any
// turn, a second process joining and rebalancing, outages, refused deliveries, fences). Time
// is the cluster's: nothing waits, so a schedule of minutes runs in milliseconds, and the same
// seed replays it turn for turn.
//
// After each schedule, ``SimulationChecks`` compares what reached the output topics with
// `tidemark batch` over the same readings.
import Foundation
import Kafka
import KafkaSimulation
import Logging
import Synchronization
import Tidemark

/// What to simulate besides what the seed chooses.
package struct SimulationOptions: Sendable {
    /// Exactly once or at least once; nil: the seed chooses.
    package var exactlyOnce: Bool?
    /// Whether the readings are not keyed by device and repartitioned; nil: the seed chooses
    /// (a third of seeds).
    package var repartitions: Bool?
    /// Log what the runtime logs (to stderr), for replaying a failing seed.
    package var verbose = false
    /// A bug to plant, to see the checks catch it.
    package var sabotage: Sabotage?

    package init(exactlyOnce: Bool? = nil, repartitions: Bool? = nil, verbose: Bool = false, sabotage: Sabotage? = nil) {
        self.exactlyOnce = exactlyOnce
        self.repartitions = repartitions
        self.verbose = verbose
        self.sabotage = sabotage
    }
}

/// The outcome of one seed.
package struct SimulationReport: Sendable {
    package var seed: UInt64
    package var exactlyOnce: Bool
    /// Whether the readings were repartitioned (`key: any`).
    package var repartitions = false
    /// Every broken promise, each a sentence; empty when the seed passed.
    package var violations: [String]
    /// What happened, in order: faults and the processes' ends.
    package var story: [String]
    package var simulatedMillis: Int64
    package var readings: Int
    package var results: Int
    /// Readings of compared windows written to the repartition topic more than once (a crash
    /// before their input offsets were committed): each must count once.
    package var repartitionedTwice = 0
    /// Input records first written to a repartition partition after a later record of their
    /// input partition (a write that failed, written again by the next owner; see
    /// ``SimulationChecks/repartitionGaps()``): each must still count once.
    package var repartitionGaps: [String] = []

    package var passed: Bool { violations.isEmpty }

    /// The report of a failing seed: what broke, what led to it, and how to replay it.
    package var failureDescription: String {
        """
        seed \(seed) (\(exactlyOnce ? "exactly once" : "at least once")) failed; replay: tidemark-bench simulate --seed \(seed) --verbose
        violations:
        \(violations.map { "  - \($0)" }.joined(separator: "\n"))
        story:
        \(story.map { "  \($0)" }.joined(separator: "\n"))
        """
    }
}

package enum RuntimeSimulation {
    /// Runs one seed's schedule and checks it.
    package static func run(seed: UInt64, options: SimulationOptions = SimulationOptions()) -> SimulationReport {
        SimulationRun(seed: seed, options: options).run()
    }
}

/// A value the single simulation thread shares with closures the runtime wants Sendable.
struct SimulationThreadOnly<Value>: @unchecked Sendable {
    let value: Value
}

/// One incarnation of a `tidemark run` process.
final class SimulatedProcess {
    /// Which instance this is: a restart keeps its slot (and its transactional id).
    let slot: Int
    let owner: Int
    /// What the loop is run for (it holds the service unowned, as `run` does).
    let service: ConsumerService
    let loop: ConsumerLoop
    /// Whether it had a turn with the broker reachable: it knows the cluster's id since.
    var sawCluster = false

    init(slot: Int, owner: Int, service: ConsumerService) throws {
        self.slot = slot
        self.owner = owner
        self.service = service
        loop = try ConsumerLoop(service: service)
    }
}

final class SimulationRun {
    let seed: UInt64
    let cluster: SimulatedCluster
    /// The schedule's choices, apart from the cluster's own (latencies, crash losses).
    var random: SimulationRandom
    let exactlyOnce: Bool
    let workload: SimulationWorkload
    let group = "sim"
    let checkpointInterval: Duration
    static let drainTimeout: Duration = .seconds(5)
    let logger: Logger
    var processes: [SimulatedProcess] = []
    /// The apps the processes run: the workload's, and its added app once added.
    private(set) var apps: [AppDefinition]
    private var nextOwner = 1
    private var produced = 0
    var story: [String] = []
    var violations: [String] = []
    /// How often faults strike: a turn brings one with six times this probability.
    private let faultRate: Double
    private let sabotage: Sabotage?
    let forgedOrigins = ForgedOrigins()

    init(seed: UInt64, options: SimulationOptions) {
        self.seed = seed
        cluster = SimulatedCluster(seed: seed)
        var random = SimulationRandom(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        exactlyOnce = options.exactlyOnce ?? random.chance(0.5)
        // Its own stream, so that the seeds that do not repartition keep the schedule they had
        // before repartitioning was simulated.
        var repartitionChoice = SimulationRandom(seed: seed ^ 0x2E9A_7B1D_40C3_F5A1)
        let repartitions = options.repartitions ?? repartitionChoice.chance(1.0 / 3)
        workload = SimulationWorkload(random: &random, startMillis: cluster.nowMillis, repartitions: repartitions)
        checkpointInterval = .milliseconds(random.int(in: 100...1500))
        faultRate = [0.0, 0.001, 0.003, 0.006][random.int(in: 0...3)]
        self.random = random
        apps = workload.apps
        sabotage = options.sabotage
        var logger = Logger(label: "tidemark-simulation") { label in
            options.verbose ? StreamLogHandler.standardError(label: label) as any LogHandler : SwiftLogNoOpLogHandler()
        }
        logger.logLevel = options.verbose ? Logger.Level.info : Logger.Level.critical
        self.logger = logger
    }

    func run() -> SimulationReport {
        cluster.createTopic(SimulationWorkload.inputTopic, partitions: workload.partitions)
        for topic in SimulationWorkload.outputTopics { cluster.createTopic(topic, partitions: 2) }
        let checks = SimulationChecks(run: self)
        cluster.onCommit = { group, offsets in checks.committed(group: group, offsets) }
        story.append("\(exactlyOnce ? "exactly once" : "at least once"), \(workload.partitions) partitions, \(workload.devices) devices, \(workload.readings.count) readings\(workload.repartitions ? " not keyed by device (key: any)" : ""), checkpoint every \(checkpointInterval), fault rate \(faultRate)")

        // The schedule: readings arrive while faults strike. Now and then the cluster is
        // replaced half way, and the schedule ends with that.
        let replacesClusterAt = random.chance(0.03) ? random.int(in: 50...600) : nil
        let addsAppAt = workload.addedApp == nil ? nil : random.int(in: 1...400)
        var turns = 0
        while produced < workload.readings.count || turns < 400 {
            turns += 1
            if turns == replacesClusterAt { return replaceCluster() }
            if turns == addsAppAt, let added = workload.addedApp { add(added) }
            produceSome()
            injectFault()
            turnSomeProcess()
        }
        // Then calm: the last outage ends, the closing readings arrive, and one process at
        // least runs until every input offset is committed.
        story.append("t=\(elapsed) faults end")
        while cluster.isDown { cluster.advance(by: 100) }
        while produced < workload.readings.count { produceSome() }
        for closing in workload.closingReadings { produce(closing) }
        let settleBy = cluster.nowMillis + 300_000
        while !checks.inputCommitted() && cluster.nowMillis < settleBy { turnSomeProcess() }
        if !checks.inputCommitted() {
            violations.append("the input was not committed within 300 s (simulated) after the faults ended: \(checks.uncommittedInput())")
        }
        for process in processes { stop(process) }
        processes.removeAll()
        checks.checkOutputs()
        let twice = checks.repartitionedTwice()
        if twice > 0 { story.append("\(twice) readings were written to the repartition topic twice or more") }
        let gaps = checks.repartitionGaps()
        story += gaps.map { "written after a later record: \($0)" }
        return SimulationReport(
            seed: seed, exactlyOnce: exactlyOnce, repartitions: workload.repartitions, violations: violations, story: story,
            simulatedMillis: elapsed, readings: workload.readings.count, results: checks.resultCount, repartitionedTwice: twice,
            repartitionGaps: gaps)
    }

    var elapsed: Int64 { cluster.nowMillis - workload.startMillis }

    /// A hot reload that adds an app: its changelog (and repartition topic) made as the reloader
    /// makes them, then the new app set handed to every running process (and to those started
    /// later).
    private func add(_ app: AppDefinition) {
        story.append("t=\(elapsed) app \(app.name) added")
        for topic in ChangelogTopic.needed(by: [app], group: group) where cluster.partitionCount(of: topic.name) == nil {
            cluster.createTopic(topic.name, partitions: workload.partitions)
        }
        apps.append(app)
        for process in processes { process.service.update(apps: apps) }
    }

    /// The cluster behind the bootstrap address is replaced by an empty one: every process that
    /// knew the old one must fail at its first turn that reaches the new one (not during an
    /// outage), naming both clusters; nothing is committed to the new one (its offsets mean
    /// other records). A process that never reached the old one starts on the new one afresh.
    private func replaceCluster() -> SimulationReport {
        if processes.isEmpty { start(slot: 1) }
        let old = cluster.clusterID
        cluster.replaceCluster()
        story.append("t=\(elapsed) the cluster is replaced (\(old) by \(cluster.clusterID))")
        cluster.onCommit = { [unowned self] group, offsets in
            violations.append("t=\(elapsed) committed \(offsets.map(\.description)) to the new cluster")
        }
        for process in processes where process.sawCluster {
            do {
                // Turns during an outage see no cluster at all; an outage lasts seconds.
                for _ in 0..<10_000 {
                    let reachable = !cluster.isDown
                    try process.loop.turn()
                    if reachable { break }
                }
                violations.append("process \(process.slot) went on after the cluster was replaced")
            } catch RuntimeFailure.clusterChanged(let from, let to) where from == old && to == cluster.clusterID {
                story.append("t=\(elapsed) process \(process.slot) failed: the cluster changed")
            } catch {
                ended(slot: process.slot, error, expected: false)
            }
        }
        for process in processes {
            process.loop.finish()
            cluster.crash(owner: process.owner)
        }
        processes.removeAll()
        return SimulationReport(
            seed: seed, exactlyOnce: exactlyOnce, repartitions: workload.repartitions, violations: violations, story: story,
            simulatedMillis: elapsed, readings: produced, results: 0)
    }

    // MARK: Readings

    private func produceSome() {
        guard produced < workload.readings.count, random.chance(0.3) else { return }
        for _ in 0..<random.int(in: 1...6) where produced < workload.readings.count {
            produce(workload.readings[produced])
            produced += 1
        }
    }

    private func produce(_ reading: SimulationWorkload.Reading) {
        cluster.produce(
            topic: SimulationWorkload.inputTopic, partition: reading.partition, key: reading.key, value: reading.value, timestamp: cluster.nowMillis)
    }

    // MARK: Processes

    /// Starts (or restarts) the process of `slot`.
    private func start(slot: Int) {
        let owner = nextOwner
        nextOwner += 1
        let clients = SimulatedClients(cluster: cluster, owner: owner, group: group, sabotage: sabotage, forgedOrigins: forgedOrigins)
        let consumerConfig = KafkaConfig([
            "bootstrap.servers": "simulated", "group.id": group, "auto.offset.reset": "earliest", "session.timeout.ms": "3000",
        ])
        var producerConfig = KafkaConfig(["bootstrap.servers": "simulated"])
        if exactlyOnce { producerConfig["transactional.id"] = "sim-\(slot)" }
        let cluster = SimulationThreadOnly(value: cluster)
        let service = ConsumerService(
            consumerConfig: consumerConfig, producerConfig: producerConfig, group: group, shards: 1,
            checkpointInterval: checkpointInterval, drainTimeout: Self.drainTimeout, unhealthyAfter: .seconds(20),
            exactlyOnce: exactlyOnce, apps: apps, metrics: RuntimeMetrics(), health: HealthState(),
            clock: { cluster.value.nowMillis }, clients: clients, logger: logger)
        do {
            processes.append(try SimulatedProcess(slot: slot, owner: owner, service: service))
            story.append("t=\(elapsed) process \(slot) starts (owner \(owner))")
        } catch {
            story.append("t=\(elapsed) process \(slot) cannot start: \(error)")
            self.cluster.crash(owner: owner)
            ended(slot: slot, error, expected: true)
        }
    }

    private func turnSomeProcess() {
        if processes.isEmpty {
            cluster.advance(by: Int64(random.int(in: 0...1000)))
            start(slot: 1)
            return
        }
        let process = processes[random.int(in: 0...(processes.count - 1))]
        do {
            // Outages start between turns: reachable now is reachable for the turn's poll.
            let reachable = !cluster.isDown
            try process.loop.turn()
            if reachable { process.sawCluster = true }
        } catch {
            process.loop.finish()
            cluster.crash(owner: process.owner)
            processes.removeAll { $0 === process }
            ended(slot: process.slot, error, expected: false)
        }
    }

    /// A process ended by a failure: expected when a fault explains it.
    private func ended(slot: Int, _ error: any Error, expected: Bool) {
        story.append("t=\(elapsed) process \(slot) failed: \(error)")
        guard !expected else { return }
        switch error as? RuntimeFailure {
        case .delivery, .transaction, .transactionsAborting, .unhealthy, .drainUnfinished:
            break
        default:
            violations.append("process \(slot) failed for no fault of the cluster's: \(error)")
        }
    }

    /// SIGTERM: the drain must end within its timeout (in simulated time) whatever the
    /// cluster does meanwhile.
    private func stop(_ process: SimulatedProcess) {
        let started = cluster.nowMillis
        story.append("t=\(elapsed) process \(process.slot) SIGTERM")
        do {
            try process.loop.drain()
        } catch {
            ended(slot: process.slot, error, expected: false)
        }
        process.loop.finish()
        let took = cluster.nowMillis - started
        // A turn's last poll may run a tick past the deadline before the drain looks at it.
        if .milliseconds(took) > Self.drainTimeout + .seconds(1) {
            violations.append("process \(process.slot)'s drain took \(took) ms (simulated), its timeout being \(Self.drainTimeout)")
        }
        cluster.crash(owner: process.owner)
    }

    // MARK: Faults

    private func injectFault() {
        guard faultRate > 0, random.chance(faultRate * 6) else { return }
        switch random.int(in: 0...9) {
        case 0, 1:
            guard let process = anyProcess() else { return }
            story.append("t=\(elapsed) process \(process.slot) crashes (kill -9)")
            cluster.crash(owner: process.owner)
            processes.removeAll { $0 === process }
        case 2:
            guard let process = anyProcess() else { return }
            processes.removeAll { $0 === process }
            stop(process)
        case 3, 4:
            guard processes.count < 2 else { return }
            let slot = processes.contains { $0.slot == 1 } ? 2 : 1
            start(slot: slot)
        case 5, 6:
            guard !cluster.isDown else { return }
            let millis = Int64(random.int(in: 100...8000))
            story.append("t=\(elapsed) outage of \(millis) ms")
            cluster.outage(for: millis)
        case 7:
            story.append("t=\(elapsed) the next delivery is refused")
            cluster.refuseNextDelivery(owner: nil)
        case 8:
            guard exactlyOnce, let process = anyProcess() else { return }
            story.append("t=\(elapsed) process \(process.slot) fenced")
            cluster.fence(transactionalID: "sim-\(process.slot)-0")
        default:
            // A pause of the whole process (GC, a stalled disk): time passes without a turn.
            let millis = Int64(random.int(in: 100...4000))
            story.append("t=\(elapsed) every process stalls for \(millis) ms")
            cluster.advance(by: millis)
        }
    }

    private func anyProcess() -> SimulatedProcess? {
        processes.isEmpty ? nil : processes[random.int(in: 0...(processes.count - 1))]
    }
}
