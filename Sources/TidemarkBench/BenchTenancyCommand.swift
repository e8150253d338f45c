// `tidemark bench tenancy`: a thousand apps in one `tidemark run` process on low-rate
// topics: its resident memory, its idle CPU, and the result latency of a low-rate app with
// and without a hot app running flat out. Broker, tidemark and the hot load are separate
// processes, so the figures are tidemark's own.
import ArgumentParser
import Foundation
import Kafka
import Tidemark

struct BenchTenancyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenancy",
        abstract: "1,000 apps in one process: memory, idle CPU, and low-rate latency next to a hot app.")

    @Option(help: "Apps on the low-rate topics.")
    var apps = 1000

    @Option(help: "Low-rate topics the apps share.")
    var topics = 50

    @Option(help: "Readings backlogged for the hot app.")
    var hotRecords = 4_000_000

    @Option(help: "Latency probes per phase.")
    var probes = 40

    @Option(help: "Seconds of idle CPU measurement.")
    var idleSeconds = 10

    func run() throws {
        let executable = try BenchSupport.tidemarkExecutable()
        let directory = try BenchSupport.scratchDirectory("bench-tenancy")
        let appsDirectory = directory + "/apps"
        try FileManager.default.createDirectory(atPath: appsDirectory, withIntermediateDirectories: true)
        try writeTopics(to: directory + "/topics.yaml")
        for index in 0..<apps { try writeLowApp(index, to: appsDirectory) }

        let broker = try ChildProcess(executable, ["dev-broker", "--topics", directory + "/topics.yaml", "--apps", appsDirectory])
        defer { broker.stop() }
        let bootstrap = try broker.firstLine(within: .seconds(20))
        let run = try ChildProcess(
            executable, ["run", "--brokers", bootstrap, "--apps", appsDirectory, "--metrics", "127.0.0.1:0", "--log-level", "warning"])
        defer { run.stop() }
        let probe = try LatencyProbe(brokers: bootstrap)
        // Ready when a probe comes back: every app is loaded and the group has its partitions.
        _ = try probe.measure(count: 1, interval: .milliseconds(100), timeout: .seconds(60))
        print("\(apps) apps on \(topics) low-rate topics, running")

        let rss = try ProcessStats.residentMegabytes(pid: run.pid)
        print("resident memory: \(BenchSupport.format(rss, 1)) MB (target < 300 MB)")

        let idle = try ProcessStats.cpuShare(pid: run.pid, over: .seconds(idleSeconds))
        print("idle CPU: \(BenchSupport.format(idle * 100, 2))% of a core over \(idleSeconds) s (target < 2%)")

        let quiet = try probe.measure(count: probes, interval: .milliseconds(50), timeout: .seconds(60))
        print("low-rate result latency alone:    p50 \(quiet.p50) ms, p99 \(quiet.p99) ms")

        print("backlogging \(hotRecords) readings for the hot app…")
        let load = try ChildProcess(
            executable, ["simulate", "--brokers", bootstrap, "--topic", "hot", "--devices", "1000", "--rate", "1000",
                "--count", String(hotRecords), "--delays", "none", "--fast", "--start", "2026-11-28T00:00:00Z"])
        try load.waitForExit(within: .seconds(300))
        try writeHotApp(to: appsDirectory)
        let hotStarted = try run.awaitMetric("tidemark_records_in_total{app=\"hot\"}", above: 0, timeout: .seconds(120))
        let busy = try probe.measure(count: probes, interval: .milliseconds(50), timeout: .seconds(60))
        let hotDone = try run.metric("tidemark_records_in_total{app=\"hot\"}")
        print("low-rate result latency, hot app: p50 \(busy.p50) ms, p99 \(busy.p99) ms (hot app read \(hotDone - hotStarted) records meanwhile)")
        print("ratio p50 hot / alone: \(BenchSupport.format(Double(busy.p50) / Double(max(quiet.p50, 1)), 2)) (target <= 2)")
    }

    private func writeTopics(to path: String) throws {
        var text = "topics:\n"
        for topic in 0..<topics { text += "  - {name: low-\(topic), partitions: 1}\n" }
        text += """
              - {name: hot, partitions: 128}
              - {name: tidemark-hot-changelog, partitions: 128}
              - {name: hot-results, partitions: 8}
              - {name: low-results, partitions: 8}
              - {name: probe-events, partitions: 1}
              - {name: tenancy-late, partitions: 4}

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func writeLowApp(_ index: Int, to directory: String) throws {
        let name = String(format: "low-%04d", index)
        var text = """
            app: \(name)
            input: {topic: low-\(index % topics), device: device, time: ts}
            watermark: {out_of_order: 10s, idle: 5m}
            series:
              - name: minute
                window: {size: 1m}
                allowed_lateness: 1h
                aggregate: {mean: mean(temperature), count: count()}
                output: low-results

            """
        if index == 0 { text += "triggers:\n  - {name: probe, when: probe > 0, output: probe-events}\n" }
        text += "late: {output: tenancy-late}\n"
        try text.write(toFile: "\(directory)/\(name).yaml", atomically: true, encoding: .utf8)
    }

    private func writeHotApp(to directory: String) throws {
        try """
            app: hot
            input: {topic: hot, device: device, time: ts}
            watermark: {out_of_order: 10s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                output: hot-results
            late: {output: tenancy-late}
            """.write(toFile: directory + "/hot.yaml", atomically: true, encoding: .utf8)
    }
}

/// Sends readings that app `low-0000` turns into trigger events, and times their return.
private final class LatencyProbe {
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer

    init(brokers: String) throws {
        producer = try KafkaProducer(config: ["bootstrap.servers": brokers, "linger.ms": "0", "log_level": "3"])
        consumer = try KafkaConsumer(config: [
            "bootstrap.servers": brokers, "group.id": "tenancy-probe", "auto.offset.reset": "latest",
            "fetch.wait.max.ms": "5", "log_level": "3",
        ])
        try consumer.assign([KafkaTopicPartition(topic: "probe-events", partition: 0, offset: KafkaTopicPartition.endOffset)])
    }

    struct Latencies {
        var p50: Int64
        var p99: Int64
    }

    /// Sends `count` probes `interval` apart and waits for each to come back as an event.
    func measure(count: Int, interval: Duration, timeout: Duration) throws -> Latencies {
        var latencies: [Int64] = []
        var sent = 0
        var nextSend = ContinuousClock.now
        let deadline = ContinuousClock.now + timeout
        while latencies.count < count {
            guard ContinuousClock.now < deadline else { throw ValidationError("only \(latencies.count) of \(count) probes came back") }
            if sent < count, ContinuousClock.now >= nextSend {
                let now = wallClockMillis()
                try producer.send(
                    topic: "low-0", key: "probe",
                    value: #"{"device":"probe","ts":\#(now),"temperature":20,"probe":1,"sent":\#(now)}"#, token: 0)
                producer.poll { _ in }
                sent += 1
                nextSend = nextSend + interval
            }
            let poll = try consumer.poll(timeout: .milliseconds(2))
            for message in poll.messages {
                guard let text = message.value?.string, let range = text.range(of: #""sent":"#) else { continue }
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let sentAt = Int64(digits) { latencies.append(wallClockMillis() - sentAt) }
            }
        }
        latencies.sort()
        return Latencies(p50: latencies[latencies.count / 2], p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }
}
