// `tidemark bench run`: `tidemark run` end to end (Kafka in, windows, JSON out to Kafka)
// against the raw consume rate of a plain C librdkafka loop over the same records.
import ArgumentParser
import Foundation
import EmbeddedKafka
import Kafka
import Logging
import Tidemark

struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compare tidemark run end to end with a plain C consume loop on an embedded broker.",
        discussion: """
            One app: tumbling 1-minute mean/max/count per device, JSON in and out, its state \
            checkpointed to its changelog every second (and, for the cost of that, an hour apart). \
            Every side reads the same records from one embedded broker; each clock starts when \
            the first record is read (C: at partition assignment) and stops at the last. \
            With --keys none, the same readings also go, without keys, to a second topic that an \
            app with `key: any` reads through its repartition topic: every record written twice.
            """)

    enum Keys: String, ExpressibleByArgument {
        case device, none
    }

    @Option(help: "device: the input keyed by device; none: also the same readings without keys, repartitioned.")
    var keys: Keys = .device

    @Option(help: "Records to produce, then consume with each side.")
    var records = 1_000_000

    @Option(help: "Devices sending readings.")
    var devices = 1000

    @Option(help: "Partitions of the input topic (the embedded broker keeps ~5 MiB per partition).")
    var partitions: Int32 = 64

    @Option(help: "Shards (threads processing partitions) of tidemark run.")
    var shards = TidemarkRuntime.defaultShards

    @Option(help: "tidemark run's prefetch budget in MiB (default: run's own).")
    var prefetchBudget: Int?

    @Option(help: "Rounds (C loop, then tidemark run with and without checkpoints, each in a new consumer group); medians are reported.")
    var runs = 5

    func run() async throws {
        bootstrapLogging(level: .warning)
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        try broker.createTopic("readings", partitions: partitions)
        try broker.createTopic("bench-results", partitions: partitions)
        try broker.createTopic("bench-late", partitions: 4)
        let bytes = try BenchSupport.produceReadings(to: broker, topic: "readings", count: records, devices: devices)
        print("produced \(records) readings of \(devices) devices (\(bytes / records) B each) to \(partitions) partitions")
        if keys == .none {
            try broker.createTopic("readings-unkeyed", partitions: partitions)
            try BenchSupport.produceReadings(to: broker, topic: "readings-unkeyed", count: records, devices: devices, keyed: false)
            print("produced them again without keys to readings-unkeyed")
        }

        let base: [String: String] = [
            "bootstrap.servers": broker.bootstrapServers, "log_level": "3", "fetch.wait.max.ms": "10",
        ]
        let apps = try BenchSupport.scratchDirectory("bench-run")
        try """
            app: bench
            input: {topic: readings, device: device, time: ts}
            watermark: {out_of_order: 5s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                output: bench-results
            late: {output: bench-late}
            """.write(toFile: apps + "/bench.yaml", atomically: true, encoding: .utf8)
        // The same app on the readings without keys, read through its repartition topic.
        let unkeyedApps = try BenchSupport.scratchDirectory("bench-run-unkeyed")
        try String(contentsOfFile: apps + "/bench.yaml", encoding: .utf8)
            .replacingOccurrences(of: "topic: readings,", with: "topic: readings-unkeyed, key: any,")
            .write(toFile: unkeyedApps + "/bench.yaml", atomically: true, encoding: .utf8)

        // The machine's cores are shared by the broker, both clients and the pipeline, and
        // librdkafka 2.0.2 stalls a fetch for a second now and then (a full queue): single
        // rounds swing widely, so each figure is the median over the rounds, and the two run
        // variants take turns at going first (the second of a pair ran faster, whichever it was).
        var cRates: [Double] = [], runRates: [Double] = [], uncheckedRates: [Double] = [], repartitionedRates: [Double] = []
        for round in 1 ... max(1, runs) {
            // librdkafka's defaults: with `tidemark run`'s smaller per-partition queue bounds the
            // C loop stalls more often, which would flatter the ratio.
            var cConfig = KafkaConfig(base)
            cConfig["group.id"] = "bench-c-\(round)"
            cConfig["auto.offset.reset"] = "earliest"
            let c = try PlainCConsumeLoop.consume(config: cConfig, topic: "readings", records: records, timeout: .seconds(300))
            // Durable state as deployed (a checkpoint a second), and with checkpoints an hour
            // apart: none falls within the measurement, which is the cost of state left alone.
            func measure(checkpoint: Duration, group: String) async throws -> Double {
                try await measureRun(base: base, apps: apps, group: "\(group)-\(round)", broker: broker, checkpoint: checkpoint)
            }
            let rate: Double, unchecked: Double
            if round % 2 == 1 {
                rate = try await measure(checkpoint: .seconds(1), group: "bench-tidemark")
                unchecked = try await measure(checkpoint: .seconds(3600), group: "bench-unchecked")
            } else {
                unchecked = try await measure(checkpoint: .seconds(3600), group: "bench-unchecked")
                rate = try await measure(checkpoint: .seconds(1), group: "bench-tidemark")
            }
            cRates.append(c.recordsPerSecond)
            runRates.append(rate)
            uncheckedRates.append(unchecked)
            var repartitioned = ""
            if keys == .none {
                let group = "bench-repartitioned-\(round)"
                try broker.createTopic(RepartitionTopic.name(group: group, topic: "readings-unkeyed"), partitions: partitions)
                let rate = try await measureRun(base: base, apps: unkeyedApps, group: group, broker: broker, checkpoint: .seconds(1), reads: 2)
                repartitionedRates.append(rate)
                repartitioned = ", without keys repartitioned \(BenchSupport.format(rate)) records/s"
            }
            print(
                "round \(round): C loop \(BenchSupport.format(c.recordsPerSecond)) records/s, "
                    + "tidemark run \(BenchSupport.format(rate)) records/s (without checkpoints \(BenchSupport.format(unchecked))\(repartitioned)), "
                    + "ratio \(BenchSupport.format(rate / c.recordsPerSecond, 3))")
        }
        let (c, run, unchecked) = (BenchSupport.median(cRates), BenchSupport.median(runRates), BenchSupport.median(uncheckedRates))
        let rounds = "median of \(cRates.count)"
        print("C consume loop                  : \(BenchSupport.format(c)) records/s (\(rounds))")
        print("tidemark run, checkpoint each 1 s: \(BenchSupport.format(run)) records/s (\(rounds))")
        print("tidemark run, no checkpoint      : \(BenchSupport.format(unchecked)) records/s (\(rounds))")
        print("ratio run / C                   : \(BenchSupport.format(run / c, 3)) (target >= 0.8)")
        print("checkpoint cost                 : \(BenchSupport.format((1 - run / unchecked) * 100, 1))% (target <= 10%)")
        if keys == .none {
            let repartitioned = BenchSupport.median(repartitionedRates)
            // Each record again, keyed by its device, its value after its 13-byte origin.
            let keyBytes = (0..<devices).map { ReadingSimulator.deviceName($0).utf8.count }.reduce(0, +) / max(1, devices)
            print("tidemark run, no keys, repartitioned: \(BenchSupport.format(repartitioned)) records/s (\(rounds))")
            print("ratio repartitioned / keyed     : \(BenchSupport.format(repartitioned / run, 3)) (target >= 0.5)")
            print(
                "broker bytes added per record   : \(bytes / records + RepartitionedValue.headerSize + keyBytes) "
                    + "(value \(bytes / records) + origin \(RepartitionedValue.headerSize) + key \(keyBytes), before Kafka's per-record framing)")
        }
    }

    /// Records per second of `tidemark run` over the whole topic, from its first record read
    /// to its last.
    private func measureRun(
        base: [String: String], apps: String, group: String, broker: EmbeddedKafkaBroker, checkpoint: Duration, reads: Int = 1
    ) async throws -> Double {
        try broker.createTopic(ChangelogTopic.name(group: group, app: "bench"), partitions: partitions)
        let runtime = try TidemarkRuntime(
            options: .init(
                kafka: KafkaConfig(base), apps: apps, group: group, shards: shards, checkpointInterval: checkpoint,
                prefetchBudget: prefetchBudget.map { $0 << 20 }))
        let running = Task { try await runtime.run() }
        let deadline = ContinuousClock.now + .seconds(300)
        var first: ContinuousClock.Instant?
        // Repartitioned, each record is read twice: from its topic, and from the repartition topic.
        while runtime.recordsConsumed < records * reads, ContinuousClock.now < deadline {
            if first == nil, runtime.recordsConsumed > 0 { first = .now }
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = BenchSupport.seconds(ContinuousClock.now - (first ?? .now))
        let consumed = runtime.recordsConsumed
        await runtime.shutdown()
        try await running.value
        guard consumed >= records * reads else { throw ValidationError("tidemark run consumed only \(consumed) records") }
        return Double(records) / elapsed
    }
}
