// `tidemark run` as a library: lanes consuming the apps' input topics in one consumer group,
// app files watched for changes, metrics and health served, and a clean drain on shutdown.
import Foundation
import Kafka
import Logging

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
        /// Consumers (threads) in this process; partitions are split among them.
        public var lanes: Int
        /// `HOST:PORT` for `/metrics` and `/health`; nil: not served.
        public var metricsAddress: String?
        /// How often app files are checked for changes.
        public var reloadInterval: Duration

        public init(
            kafka: KafkaConfig, apps: String, group: String = "tidemark", lanes: Int = 2,
            metricsAddress: String? = nil, reloadInterval: Duration = .seconds(2)
        ) {
            self.kafka = kafka
            self.apps = apps
            self.group = group
            self.lanes = lanes
            self.metricsAddress = metricsAddress
            self.reloadInterval = reloadInterval
        }
    }

    public let options: Options
    public let metrics = MetricsRegistry()
    private let lanes: [PipelineLane]
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
        let metrics = self.metrics
        lanes = (0..<max(1, options.lanes)).map {
            PipelineLane(
                index: $0, consumerConfig: KafkaConfig(consumer), producerConfig: KafkaConfig(producer),
                apps: apps, metrics: metrics, clock: clock, logger: logger)
        }
        logger.info("apps loaded", metadata: ["apps": "\(apps.map(\.name).joined(separator: ","))"])
    }

    /// Consumer settings that keep latency low and memory bounded; any can be overridden.
    static let consumerDefaults: [String: String] = [
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
        // A small prefetch queue: a hot topic cannot bury a quiet app's record behind
        // hundreds of megabytes, and a thousand apps do not cost a gigabyte.
        "queued.max.messages.kbytes": "8192",
        "fetch.wait.max.ms": "100",
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
            let lanes = self.lanes
            endpoint = try MetricsEndpoint(
                address: address, metrics: { metrics.render() },
                health: {
                    let states = lanes.map(\.state)
                    let healthy = states.allSatisfy { $0 == .running || $0 == .starting }
                    return .init(healthy: healthy, detail: states.map { "\($0)" }.joined(separator: ","))
                })
            logger.info("metrics", metadata: ["address": "\(address)", "port": "\(endpoint!.port)"])
        }
        for lane in lanes { lane.start() }
        var watcher = AppDirectoryWatcher(path: options.apps)
        var lastCheck = ContinuousClock.now
        while !shutdown.isRequested {
            usleep(50_000)
            if lanes.contains(where: { $0.state == .failed }) {
                logger.critical("a lane failed; shutting down")
                break
            }
            guard ContinuousClock.now - lastCheck >= options.reloadInterval else { continue }
            lastCheck = ContinuousClock.now
            if watcher.changed() { reload() }
        }
        for lane in lanes { lane.stop() }
        for lane in lanes { lane.waitUntilStopped() }
        endpoint?.stop()
        if lanes.contains(where: { $0.state == .failed }) {
            throw RuntimeFailure(reason: "a lane failed; see the log")
        }
    }

    private func reload() {
        do throws(ConfigErrors) {
            let apps = try AppLoader.load(path: options.apps)
            for lane in lanes { lane.update(apps: apps) }
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
