// `tidemark run` as a library: a service group of the consumer service (consuming the apps' input
// topics in a consumer group), the app-file reloader and the metrics server. SIGTERM/SIGINT
// (or `shutdown()`) drain, commit and leave the group; `reloadApps()` (SIGHUP in `tidemark
// run`) reads the app directory at once; a service that fails ends the group and `run()`
// throws its reason.
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs a directory of apps against a Kafka cluster until shut down.
package final class TidemarkRuntime: Service, Sendable {
    /// How to run.
    package struct Options: Sendable {
        /// Client properties shared by consumers and producers (`bootstrap.servers`, SASL, …).
        package var kafka: KafkaConfig
        /// A directory of app files, or one file.
        package var apps: String
        /// The consumer group.
        package var group: String
        /// Shards: threads processing partitions in parallel, each with its own producer.
        /// librdkafka's own threads need cores too, so the default is half of them.
        package var shards: Int
        /// `HOST:PORT` for `/metrics` and `/health`; nil: not served.
        package var metricsAddress: String?
        /// How often app files are checked for changes.
        package var reloadInterval: Duration
        /// How often changed state is written to the changelog topics.
        package var checkpointInterval: Duration
        /// What a crash can do to outputs.
        package var guarantee: Guarantee
        /// Bytes of memory the consumer may fill with records fetched ahead of processing,
        /// across all its partitions; nil: `queued.max.messages.kbytes` in `kafka`, or 256 MiB.
        package var prefetchBudget: Int?
        /// How long a shutdown may take to deliver, checkpoint and commit; what is not
        /// acknowledged by then is not counted as done, and `run()` throws.
        package var drainTimeout: Duration
        /// How long `degraded` for a reason a restart may mend (no broker, nothing read while
        /// records wait, commits failing) may last before the service fails (`/health` 503,
        /// non-zero exit), so that an orchestrator starts it again.
        package var unhealthyAfter: Duration
        /// What the metrics server lets its clients hold (connections, idle time, request size).
        package var metricsLimits = MetricsServer.Limits()

        package init(
            kafka: KafkaConfig, apps: String, group: String = "tidemark", shards: Int = TidemarkRuntime.defaultShards,
            metricsAddress: String? = nil, reloadInterval: Duration = .seconds(2), checkpointInterval: Duration = .seconds(1),
            guarantee: Guarantee = .atLeastOnce, prefetchBudget: Int? = nil, drainTimeout: Duration = .seconds(30),
            unhealthyAfter: Duration = .seconds(120)
        ) {
            self.unhealthyAfter = unhealthyAfter
            self.guarantee = guarantee
            self.kafka = kafka
            self.apps = apps
            self.group = group
            self.shards = shards
            self.metricsAddress = metricsAddress
            self.reloadInterval = reloadInterval
            self.checkpointInterval = checkpointInterval
            self.prefetchBudget = prefetchBudget
            self.drainTimeout = drainTimeout
        }
    }

    /// What a crash can do to outputs.
    package enum Guarantee: String, Sendable, CaseIterable {
        /// Outputs since the last checkpoint are sent again after a crash, each identical to
        /// its first sending (effectively once for consumers that keep the newest revision).
        case atLeastOnce = "at-least-once"
        /// Outputs, changelog writes and input offsets of a checkpoint go in one Kafka
        /// transaction: read-committed consumers see each output once.
        case exactlyOnce = "exactly-once"
    }

    package let options: Options
    package let metrics = RuntimeMetrics()
    package let health = HealthState()
    private let service: ConsumerService
    private let reloader: AppReloader
    private let group: ServiceGroup

    /// Loads the apps; a bad app file stops here with every error named.
    /// - Parameter signals: the signals that shut the runtime down gracefully (none for a
    ///   runtime embedded in a process that handles signals itself).
    package init(
        options: Options, logger: Logger = Logger(label: "tidemark"), signals: [UnixSignal] = [],
        clock: @escaping @Sendable () -> Int64 = wallClockMillis
    ) throws(ConfigErrors) {
        self.options = options
        let apps = try AppLoader.load(path: options.apps, group: options.group)
        var consumer = options.kafka.withDefaults(KafkaClientDefaults.consumer)
        consumer["group.id"] = options.group
        // The consumer's own property, so producers are not handed a consumer setting.
        if let budget = options.prefetchBudget { consumer["queued.max.messages.kbytes"] = String(max(1, budget / 1024)) }
        service = ConsumerService(
            consumerConfig: consumer, producerConfig: options.kafka.withDefaults(KafkaClientDefaults.producer),
            group: options.group, shards: options.shards, checkpointInterval: options.checkpointInterval,
            drainTimeout: options.drainTimeout, unhealthyAfter: options.unhealthyAfter, exactlyOnce: options.guarantee == .exactlyOnce, apps: apps,
            metrics: metrics, health: health, clock: clock, logger: logger)
        logger.info("apps loaded", metadata: ["apps": "\(apps.map(\.name).joined(separator: ","))"])

        // Shut down in reverse: the consumer service drains first, then reloading stops, and metrics
        // and health are served until the very end.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let address = options.metricsAddress {
            services.append(.init(service: MetricsServer(
                address: address, metrics: metrics, health: health, limits: options.metricsLimits, logger: logger)))
        }
        reloader = AppReloader(
            path: options.apps, interval: options.reloadInterval, apps: apps, service: service, metrics: metrics, health: health,
            logger: logger)
        services.append(.init(service: reloader))
        services.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = signals
        group = ServiceGroup(configuration: configuration)
    }

    /// Half the cores, at least one.
    package static let defaultShards = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    /// Input messages consumed and processed so far.
    package var recordsConsumed: Int { service.consumed.load(ordering: .relaxed) }

    /// Runs until shut down (returns once drained) or until a service fails (throws its error).
    package func run() async throws {
        try await group.run()
    }

    /// Reads the app directory again at once (as the periodic check does on a change), and
    /// switches to what loads; files that do not are reported and keep their previous apps.
    package func reloadApps() {
        reloader.requestReload()
    }

    /// Drains, commits and leaves the group; ``run()`` returns once done.
    package func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}
