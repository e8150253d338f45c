// `tidemark-bench prefetch`: the memory a `tidemark run` process takes for a backlog spread
// over 16, 256 and 1,024 partitions, and how fast it drains it; and one busy partition among
// many idle ones (the case librdkafka 2.0.2's refill pauses hurt). Each case can run two
// `tidemark` executables side by side (`--baseline`), so before and after compare as ratios
// of one run on a noisy machine.
import ArgumentParser
import EmbeddedKafka
import Foundation
import Kafka
import Logging
import Tidemark

struct BenchPrefetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefetch",
        abstract: "Peak memory and drain rate of tidemark run with a backlog on many partitions.",
        discussion: """
            The backlog is produced to an embedded broker in this process before the tidemark run \
            child starts (it keeps about 5 MiB per partition). The drain is timed from the first \
            to the last committed offset of the child's group (it checkpoints every 100 ms); memory is \
            the child's peak resident set (VmHWM).
            """)

    @Option(help: "Backlog cases, PARTITIONS:RECORDS-PER-PARTITION (simulated readings of about 180 bytes).")
    var cases: [String] = ["16:20000", "256:2000", "1024:2000"]

    @Option(help: "Records of about 35 bytes on the one busy partition (among --idle-partitions idle ones).")
    var busyRecords = 100_000

    @Option(help: "Idle partitions beside the busy one.")
    var idlePartitions: Int32 = 255

    @Option(help: "A second tidemark executable to measure the same way (e.g. a build before a change).")
    var baseline: String?

    @Option(help: "--prefetch-budget for the tidemark beside this binary (the baseline gets none).")
    var prefetchBudget: String?

    @Option(help: "Rounds of each case and executable; the best drain and the highest peak (what a budget must bound) are reported.")
    var rounds = 1

    func run() throws {
        bootstrapLogging(level: .warning)
        let current = try BenchSupport.tidemarkExecutable()
        var sides: [Side] = []
        if let baseline { sides.append(("baseline", baseline, [])) }
        // Checkpoints (and so commits) often enough to time a drain of a second or two.
        sides.append(("this build", current, ["--checkpoint-interval", "0.1"] + (prefetchBudget.map { ["--prefetch-budget", $0] } ?? [])))

        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        try broker.createTopic("prefetch-results", partitions: 8)
        try broker.createTopic("prefetch-late", partitions: 4)
        let directory = try BenchSupport.scratchDirectory("bench-prefetch")
        var group = 0

        for spec in cases {
            let parts = spec.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("--cases takes PARTITIONS:RECORDS, found '\(spec)'") }
            let (partitions, perPartition) = (parts[0], parts[1])
            let topic = "backlog-\(partitions)"
            try broker.createTopic(topic, partitions: Int32(partitions))
            let records = partitions * perPartition
            let bytes = try BenchSupport.produceReadings(to: broker, topic: topic, count: records, devices: partitions * 8)
            let apps = directory + "/" + topic
            try writeApp("drain", topic: topic, to: apps)
            print("\(partitions) partitions, \(records) readings backlogged (\(BenchSupport.format(Double(bytes) / 1e6, 1)) MB of values)")
            try compare(sides, broker: broker, apps: apps, topics: [(topic, Int32(partitions))], records: records, group: &group)
        }

        try broker.createTopic("busy", partitions: 1)
        try broker.createTopic("idle", partitions: idlePartitions)
        try produceSmallReadings(to: broker, topic: "busy", count: busyRecords)
        let apps = directory + "/busy"
        try writeApp("busy", topic: "busy", to: apps)
        try writeApp("idle", topic: "idle", to: apps)
        print("1 busy partition (\(busyRecords) readings of ~35 bytes) among \(idlePartitions) idle ones")
        try compare(sides, broker: broker, apps: apps, topics: [("busy", 1)], records: busyRecords, group: &group)
    }

    /// Each side's highest peak and best drain over the rounds, one line each, then their ratios.
    private func compare(
        _ sides: [Side], broker: EmbeddedKafkaBroker, apps: String, topics: [(String, Int32)], records: Int, group: inout Int
    ) throws {
        var figures: [Figures] = []
        for side in sides {
            var best: Figures?
            for _ in 0..<max(1, rounds) {
                group += 1
                let f = try measure(
                    side.executable, extra: side.extra, broker: broker, apps: apps, group: "prefetch-\(group)",
                    topics: topics, records: records)
                best = best.map { Figures(peakMB: max($0.peakMB, f.peakMB), seconds: min($0.seconds, f.seconds)) } ?? f
            }
            figures.append(best!)
            print("  \(side.name.padding(toLength: 10, withPad: " ", startingAt: 0)): peak RSS \(BenchSupport.format(best!.peakMB, 1)) MB, drained in \(BenchSupport.format(best!.seconds, 2)) s, \(BenchSupport.format(Double(records) / best!.seconds)) records/s")
        }
        printRatios(figures)
    }

    /// A tidemark executable measured, with its extra arguments.
    typealias Side = (name: String, executable: String, extra: [String])

    struct Figures {
        var peakMB: Double
        var seconds: Double
    }

    private func printRatios(_ figures: [Figures]) {
        guard figures.count == 2 else { return }
        let (before, after) = (figures[0], figures[1])
        print("  this build / baseline: peak RSS \(BenchSupport.format(after.peakMB / before.peakMB, 2)), drain rate \(BenchSupport.format(before.seconds / after.seconds, 2))")
    }

    /// Runs `tidemark run` on `apps` in a new group until its commits cover `records` records
    /// of `topics`; returns its peak resident memory and the time from first to last commit.
    private func measure(
        _ executable: String, extra: [String], broker: EmbeddedKafkaBroker, apps: String, group: String,
        topics: [(name: String, partitions: Int32)], records: Int
    ) throws -> Figures {
        let observer = try KafkaConsumer(config: ["bootstrap.servers": broker.bootstrapServers, "group.id": group, "log_level": "3"])
        defer { try? observer.close() }
        // The embedded broker has no admin API: the group's changelogs, as many partitions as
        // each app's input, exist before the child starts.
        for app in try AppLoader.load(path: apps) {
            guard let partitions = try observer.partitionCount(of: app.input.topic, timeout: .seconds(10)) else {
                throw ValidationError("input topic \(app.input.topic) of app \(app.name) does not exist")
            }
            try broker.createTopic(ChangelogTopic.name(group: group, app: app.name), partitions: partitions)
        }
        let child = try ChildProcess(
            executable, ["run", "--brokers", broker.bootstrapServers, "--apps", apps, "--group", group, "--log-level", "error"] + extra)
        defer { child.stop() }
        let partitions = topics.flatMap { topic in (0..<topic.partitions).map { KafkaTopicPartition(topic: topic.name, partition: $0) } }
        let deadline = ContinuousClock.now + .seconds(600)
        var first: ContinuousClock.Instant?
        while true {
            guard ContinuousClock.now < deadline else { throw ValidationError("\(executable) did not drain \(records) records in time") }
            let committed = try observer.committed(partitions, timeout: .seconds(10)).reduce(0) { $0 + max(0, Int($1.offset)) }
            let now = ContinuousClock.now
            if first == nil, committed > 0 { first = now }
            if committed >= records {
                let peak = try ProcessStats.peakResidentMegabytes(pid: child.pid)
                return Figures(peakMB: peak, seconds: BenchSupport.seconds(now - first!))
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private func writeApp(_ name: String, topic: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            app: \(name)
            input: {topic: \(topic), device: device, time: ts}
            watermark: {out_of_order: 5s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                output: prefetch-results
            late: {output: prefetch-late}
            """.write(toFile: "\(directory)/\(name).yaml", atomically: true, encoding: .utf8)
    }

    /// Short readings, so that one partition's backlog holds more records than librdkafka's
    /// per-partition bound within the mock broker's 5 MiB.
    private func produceSmallReadings(to broker: EmbeddedKafkaBroker, topic: String, count: Int) throws {
        let producer = try KafkaProducer(config: [
            "bootstrap.servers": broker.bootstrapServers, "batch.size": "1000000", "linger.ms": "20",
            "queue.buffering.max.messages": "500000", "log_level": "3",
        ])
        var failed = 0
        for i in 0..<count {
            let device = "d\(i % 50)"
            try producer.send(
                topic: topic, partition: 0, key: device,
                value: #"{"device":"\#(device)","ts":\#(1_764_288_000_000 + i * 10)}"#, token: UInt64(i))
            if i % 10_000 == 0 { producer.poll { if $0.error != nil { failed += 1 } } }
        }
        try producer.flush(timeout: .seconds(60))
        producer.poll { if $0.error != nil { failed += 1 } }
        guard failed == 0 else { throw ValidationError("\(failed) busy readings were not delivered") }
    }
}
