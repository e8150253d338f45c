// `tidemark run` as the end-to-end tests drive it: started on an apps directory with a
// metrics port, watched through /metrics, stopped with SIGTERM.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import Tidemark
import TidemarkTestSupport

/// A `tidemark run` child process with its /metrics port.
struct RunningService {
    let tool: ToolProcess
    let metricsPort: Int

    /// Starts `tidemark run` on `broker`, creating the changelog topics of the apps in `apps`
    /// first (the embedded broker has no admin API to let the service create them).
    ///
    /// - Parameter metricsHost: the address `/metrics` is served on (a free port is picked).
    init(broker: EmbeddedKafkaBroker, apps: String, group: String, metricsHost: String = "127.0.0.1", extra: [String] = []) throws {
        try createChangelogs(on: broker, apps: apps, group: group)
        try self.init(brokers: broker.bootstrapServers, apps: apps, group: group, metricsHost: metricsHost, extra: extra)
    }

    /// Starts `tidemark run` on `brokers` as it is (changelog topics included).
    init(brokers: String, apps: String, group: String, metricsHost: String = "127.0.0.1", extra: [String] = []) throws {
        metricsPort = try freeLoopbackPort()
        tool = try ToolProcess(
            ["run", "--brokers", brokers, "--apps", apps, "--group", group, "--metrics", "\(metricsHost):\(metricsPort)"] + extra)
    }

    /// The `/health` body, nil while it does not answer.
    var health: String? { httpGet(port: metricsPort, path: "/health")?.body }

    /// The text of one sample of /metrics, e.g. `NaN`; nil while absent.
    func sample(_ name: String) -> String? {
        guard let text = httpGet(port: metricsPort, path: "/metrics")?.body else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// `tidemark_records_in_total` of `app`, nil while /metrics does not show it.
    func recordsIn(app: String) -> Int? {
        recordsInMetric(app: app, metricsPort: metricsPort)
    }

    /// Waits until `app` has read `count` records (metrics are published once a second).
    func waitForRecordsIn(app: String, _ count: Int, within limit: Duration = .seconds(90)) throws {
        try waitUntil(
            "records_in of \(app) to reach \(count), at \(recordsIn(app: app).map(String.init) ?? "nil"); stderr: \(tool.stderr.text.suffix(3000))",
            within: limit
        ) {
            guard tool.isRunning else { throw TestFailure(description: "tidemark run exited early: \(tool.stderr.text.suffix(3000))") }
            // The backtracer keeps a crashed child alive (and silent) while it writes its report.
            if tool.hasCrashed {
                Thread.sleep(forTimeInterval: 10)  // for the crashed thread's backtrace
                throw TestFailure(description: "tidemark run crashed: \(tool.crashReport)")
            }
            return (recordsIn(app: app) ?? -1) >= count
        }
    }

    /// Log lines at `warning` or above (the log goes to stderr as `TIMESTAMP LEVEL label: …`).
    var problemsLogged: [String] {
        tool.stderr.lines.filter { line in
            let level = line.split(separator: " ", maxSplits: 2).dropFirst().first
            return ["warning", "error", "critical"].contains(level)
        }
    }

    /// SIGTERM, and the exit status after the drain.
    func stop() throws -> Int32 { try tool.stop(within: .seconds(60)) }
}

/// Creates on `broker` the changelog (and repartition) topic of each app in `apps` (a directory or one file) that
/// does not exist yet, with its input topic's partitions, as `tidemark dev-broker --apps` does.
func createChangelogs(on broker: EmbeddedKafkaBroker, apps: String, group: String) throws {
    let changelogs = ChangelogTopic.needed(by: try AppLoader.load(path: apps), group: group)
    let config: KafkaConfig = ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"]
    let counts = try KafkaTopicAdmin.partitionCounts(of: changelogs.flatMap { [$0.name, $0.inputTopic] }, config: config, timeout: .seconds(10))
    for changelog in changelogs where counts[changelog.name] == nil {
        try broker.createTopic(changelog.name, partitions: counts[changelog.inputTopic] ?? 4)
    }
}

/// The end-to-end app on an embedded broker of its own, with `count` simulated readings
/// produced and read by a running `tidemark run` (group `g`): where the tests of a running
/// service's edges start. Everything is stopped and removed with it.
final class RunningEndToEnd {
    let scratch: ScratchDirectory
    let broker: EmbeddedKafkaBroker
    let service: RunningService

    init(_ name: String, readings count: Int, extraTopics: [String] = [], extra: [String] = []) throws {
        scratch = try ScratchDirectory(name)
        try scratch.write("apps/e2e.yaml", endToEndApp)
        broker = try endToEndBroker(extraTopics: extraTopics)
        let producer = try TestProducer(bootstrap: broker.bootstrapServers)
        try producer.sendReadings(try simulateReadings(into: scratch, count: count), topic: "readings")
        try producer.finish()
        service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: extra)
        try service.waitForRecordsIn(app: "e2e", count)
    }

    deinit {
        service.tool.kill()
        broker.stop()
        scratch.remove()
    }
}
