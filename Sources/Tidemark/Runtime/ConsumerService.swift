// The consuming side of `tidemark run` as a service: the consumer loop on a thread of its own
// (the record path is not async), stopped by graceful shutdown, failing the service group
// when it cannot go on.
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// Consume, process in shards, produce, commit: the service behind `tidemark run`.
package final class ConsumerService: Service, Sendable {
    let consumerConfig: KafkaConfig
    let producerConfig: KafkaConfig
    /// The consumer group; it names the apps' changelog topics.
    let group: String
    let shardCount: Int
    /// How often changed states are written to the changelogs.
    let checkpointMillis: Int64
    /// How long a shutdown may take to deliver, checkpoint and commit.
    let drainTimeout: Duration
    /// How long trouble that a restart may mend (no broker, reading stalled, commits
    /// failing) may last before the loop fails and the process exits.
    let unhealthyAfterMillis: Int64
    /// Outputs, changelog writes and input offsets in one transaction per checkpoint.
    let exactlyOnce: Bool
    /// Processing time: epoch milliseconds.
    let clock: @Sendable () -> Int64
    /// The Kafka clients and the clock deadlines are measured by.
    let clients: any KafkaClientFactory
    let metrics: RuntimeMetrics
    let health: HealthState
    let logger: Logger
    /// The app set to switch to at the consumer loop's next turn.
    let pendingApps: Mutex<[AppDefinition]?>
    /// Input messages consumed and processed so far (for benchmarks and tests).
    package let consumed = Atomic<Int>(0)

    /// The restorer's consumer: the service's client settings and group (to read its
    /// committed offsets), joining no group.
    var restoreConfig: KafkaConfig { consumerConfig }

    /// The producer settings of one shard: exactly once, each shard's producer has a
    /// transactional id of its own, `<prefix>-<shard>`, the prefix being `transactional.id`
    /// as configured or else `<group>-<host name>`: the same process restarted on the same
    /// host fences its earlier self.
    func producerConfig(shard: Int) -> KafkaConfig {
        guard exactlyOnce else { return producerConfig }
        var config = producerConfig
        let prefix = producerConfig["transactional.id"] ?? "\(group)-\(ProcessInfo.processInfo.hostName)"
        config["transactional.id"] = "\(prefix)-\(shard)"
        return config
    }

    package init(
        consumerConfig: KafkaConfig, producerConfig: KafkaConfig, group: String, shards: Int, checkpointInterval: Duration,
        drainTimeout: Duration, unhealthyAfter: Duration, exactlyOnce: Bool, apps: [AppDefinition], metrics: RuntimeMetrics, health: HealthState,
        clock: @escaping @Sendable () -> Int64, clients: any KafkaClientFactory = LiveKafkaClients(), logger: Logger
    ) {
        self.clients = clients
        self.exactlyOnce = exactlyOnce
        self.drainTimeout = drainTimeout
        unhealthyAfterMillis = Self.milliseconds(unhealthyAfter)
        self.consumerConfig = consumerConfig
        self.producerConfig = producerConfig
        self.group = group
        self.shardCount = max(1, shards)
        checkpointMillis = max(1, Self.milliseconds(checkpointInterval))
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.logger = logger
        self.pendingApps = Mutex(apps.map { $0.readingRepartitioned(group: group) })
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Replaces the app set; apps whose definition did not change keep their state.
    package func update(apps: [AppDefinition]) {
        pendingApps.withLock { [group] in $0 = apps.map { $0.readingRepartitioned(group: group) } }
    }

    /// Runs the consumer loop until graceful shutdown (then drains, commits and leaves the
    /// group) or until it fails (then it also commits what is safe, and throws the reason).
    package func run() async throws {
        try await runOnDedicatedThreadUntilShutdown(name: "tidemark-poll") { [self] stop in
            do {
                try ConsumerLoop(service: self).run(until: stop)
            } catch {
                health.set(.failing("\(error)"))
                logger.critical("service stopped", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }
}

