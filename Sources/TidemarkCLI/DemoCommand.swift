// `tidemark demo`: everything in one process on loopback: an embedded Kafka broker, the
// simulator with realistic delays (starting an hour in the past, so backfills arrive), the
// example apps, and a live view of their results, revisions, triggers and late records.
// One service group runs the runtime, the simulator and the view; Ctrl-C shuts it down.
import ArgumentParser
import EmbeddedKafka
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import Tidemark
import UnixSignals

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the example apps on an embedded broker with simulated devices, with a live view.")

    @Option(help: "The apps to run.")
    var apps = "apps"

    @Option(help: "The topics to create.")
    var topics = "topics"

    @Option(help: "Simulated devices.")
    var devices = 100

    @Option(help: "Readings per second, all devices together.")
    var rate: Double = 50

    @Option(help: "How far in the past the simulation starts (its backlog is sent at once; two hours hold a few outages whose backfills revise windows).")
    var history = "2h"

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Int?

    /// The demo's consumer group (it names the changelog topics).
    static let group = "tidemark-demo"

    func validate() throws {
        guard TimeArgument.milliseconds("now-\(history)", now: 0) != nil else {
            throw ValidationError("--history: expected a duration such as 1h or 90m")
        }
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        let definitions = try loadingConfiguration { () throws(ConfigErrors) in try TopicLoader.load(path: topics) }
        for topic in definitions {
            try broker.createTopic(topic.name, partitions: Int32(topic.partitions))
        }
        // The embedded broker has no admin API: the apps' changelogs are created here.
        let loaded = try loadingConfiguration { () throws(ConfigErrors) in try AppLoader.load(path: apps, group: Self.group) }
        let partitions = Dictionary(definitions.map { ($0.name, $0.partitions) }, uniquingKeysWith: { first, _ in first })
        for topic in ChangelogTopic.needed(by: loaded, group: Self.group) {
            try broker.createTopic(topic.name, partitions: Int32(partitions[topic.inputTopic] ?? 4))
        }
        let runtime = try loadingConfiguration { () throws(ConfigErrors) in
            try TidemarkRuntime(
                options: .init(kafka: ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"], apps: apps, group: Self.group))
        }
        let simulator = DemoSimulator(
            brokers: broker.bootstrapServers, devices: devices, rate: rate,
            start: TimeArgument.milliseconds("now-\(history)", now: wallClockMillis())!)
        let view = DemoView(
            brokers: broker.bootstrapServers, topics: definitions.map(\.name).filter { $0 != "readings" },
            duration: duration.map { .seconds($0) }, runtime: runtime, simulator: simulator)
        // Shut down in reverse: the view stops reading, the simulator stops sending, then the
        // runtime drains what was sent.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: runtime),
                    .init(service: simulator),
                    .init(service: view, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigint, .sigterm],
                logger: Logger(label: "tidemark-demo")))
        try await group.run()
    }
}

/// The simulator, sending readings at the wall-clock pace after the backlog.
final class DemoSimulator: Service {
    private let brokers: String
    private let devices: Int
    private let rate: Double
    private let start: Int64
    private let sentCount = Atomic<Int>(0)

    init(brokers: String, devices: Int, rate: Double, start: Int64) {
        self.brokers = brokers
        self.devices = devices
        self.rate = rate
        self.start = start
    }

    var sent: Int { sentCount.load(ordering: .relaxed) }

    func run() async throws {
        try await runOnDedicatedThreadUntilShutdown(name: "tidemark-demo-simulator") { [self] stop in
            var simulator = ReadingSimulator(devices: devices, rate: rate, start: start, seed: 42, delays: .realistic)
            let destination = try KafkaReadingDestination(
                config: ["bootstrap.servers": brokers, "log_level": "3"], topic: "readings", devices: devices)
            _ = try simulator.feed(destination, count: nil, paced: true, until: stop) { sentCount.store($0, ordering: .relaxed) }
        }
    }
}
