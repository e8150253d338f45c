// `tidemark run` as a library: a pipeline consuming the apps' input topics in a consumer group,
// app files watched for changes, metrics and health served, and a clean drain on shutdown.
import Foundation
import Kafka
import Logging
import Synchronization

/// Runs a directory of apps against a Kafka cluster until shut down.
public final class TidemarkRuntime: Sendable {
    /// How to run.
    public struct Options: Sendable {
        /// Client properties shared by consumers and producers (`bootstrap.servers`, SASL, …).
        public var kafka: KafkaConfig
        /// A directory of app files, or one file.
        public var apps: String
        /// The consumer group.
        public var group: String
        /// Threads processing partitions in parallel; partitions are split among them.
        /// librdkafka's own threads need cores too, so the default is half of them.
        public var workers: Int
        /// `HOST:PORT` for `/metrics` and `/health`; nil: not served.
        public var metricsAddress: String?
        /// How often app files are checked for changes.
        public var reloadInterval: Duration

        public init(
            kafka: KafkaConfig, apps: String, group: String = "tidemark", workers: Int = TidemarkRuntime.defaultWorkers,
            metricsAddress: String? = nil, reloadInterval: Duration = .seconds(2)
        ) {
            self.kafka = kafka
            self.apps = apps
            self.group = group
            self.workers = workers
            self.metricsAddress = metricsAddress
            self.reloadInterval = reloadInterval
        }
    }

    public let options: Options
    public let metrics = MetricsRegistry()
    private let pipeline: Pipeline
    private let logger: Logger
    private let clock: @Sendable () -> Int64

    /// Loads the apps; a bad app file stops here with every error named.
    public init(
        options: Options, logger: Logger = Logger(label: "tidemark"),
        clock: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    ) throws(ConfigErrors) {
        self.options = options
        self.logger = logger
        self.clock = clock
        let apps = try AppLoader.load(path: options.apps)
        var consumer = Self.consumerDefaults
        var producer = Self.producerDefaults
        for (name, value) in options.kafka.properties {
            consumer[name] = value
            producer[name] = value
        }
        consumer["group.id"] = options.group
        pipeline = Pipeline(
            consumerConfig: KafkaConfig(consumer), producerConfig: KafkaConfig(producer), shards: options.workers,
            apps: apps, metrics: metrics, clock: clock, logger: logger)
        logger.info("apps loaded", metadata: ["apps": "\(apps.map(\.name).joined(separator: ","))"])
    }

    /// Half the cores, at least one.
    public static let defaultWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    /// Input messages consumed and processed so far.
    public var recordsConsumed: Int { pipeline.consumed.load(ordering: .relaxed) }

    /// Consumer settings that keep latency low and memory bounded; any can be overridden.
    static let consumerDefaults: [String: String] = [
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
        // Partitions are consumed from their own queues (fair partitions), so these bounds
        // are per partition. librdkafka 2.0.2 stops fetching a partition for a fixed second
        // once its queue reaches either bound (librdkafka issue #2879; 2.2 made the pause
        // configurable), so a busy partition's queue must hold about a second of its records.
        "queued.min.messages": "50000",
        "queued.max.messages.kbytes": "8192",
        "fetch.wait.max.ms": "100",
        // A changed topic set (an app on a new topic) rejoins the group; librdkafka's mock
        // broker then waits out the session timeout, so keep it at Kafka's former 10 s.
        "session.timeout.ms": "10000",
        "heartbeat.interval.ms": "1000",
        // After an outage, reach the coordinator again well within the session timeout.
        "reconnect.backoff.max.ms": "1000",
    ]

    static let producerDefaults: [String: String] = [
        "linger.ms": "5",
        "acks": "all",
    ]

    /// Starts the lanes, serves metrics, watches the app files, and returns after `shutdown`
    /// is requested and every lane has drained (delivered, committed, left the group).
    public func run(until shutdown: ShutdownSignal) throws {
        var endpoint: MetricsEndpoint?
        if let address = options.metricsAddress {
            let metrics = self.metrics
            let pipeline = self.pipeline
            endpoint = try MetricsEndpoint(
                address: address, metrics: { metrics.render() },
                health: {
                    let state = pipeline.state
                    return .init(healthy: state == .running || state == .starting, detail: "\(state)")
                })
            logger.info("metrics", metadata: ["address": "\(address)", "port": "\(endpoint!.port)"])
        }
        pipeline.start()
        var watcher = AppDirectoryWatcher(path: options.apps)
        var lastCheck = ContinuousClock.now
        while !shutdown.isRequested {
            usleep(50_000)
            if pipeline.state == .failed { break }
            guard ContinuousClock.now - lastCheck >= options.reloadInterval else { continue }
            lastCheck = ContinuousClock.now
            if watcher.changed() { reload() }
        }
        pipeline.stop()
        pipeline.waitUntilStopped()
        endpoint?.stop()
        if pipeline.state == .failed { throw RuntimeFailure(reason: "the pipeline failed; see the log") }
    }

    private func reload() {
        do throws(ConfigErrors) {
            let apps = try AppLoader.load(path: options.apps)
            pipeline.update(apps: apps)
            logger.info("apps reloaded", metadata: ["apps": "\(apps.map(\.name).joined(separator: ","))"])
        } catch {
            for problem in error.errors { logger.error("app file rejected; the running apps go on", metadata: ["error": "\(problem)"]) }
        }
    }
}

/// `tidemark run` could not go on.
public struct RuntimeFailure: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
