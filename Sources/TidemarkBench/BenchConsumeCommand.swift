// `tidemark bench consume`: consume rate of the Swift KafkaConsumer against a plain
// C rd_kafka_consumer_poll loop, both reading the same records from one embedded broker.
import ArgumentParser
import EmbeddedKafka
import Kafka

struct BenchConsumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Compare the Swift Kafka consumer with a plain C librdkafka loop on an embedded broker."
    )

    @Option(help: "Records to produce and then consume on each run.")
    var records = 1_000_000

    @Option(help: "Partitions of the benchmark topic (the embedded broker keeps ~5 MiB per partition).")
    var partitions: Int32 = 64

    @Option(help: "Runs of each consumer, alternating C and Swift; the best run of each is compared.")
    var runs = 2

    @Option(help: "Messages per Swift poll.")
    var batch = 1024

    @Flag(help: "Run the Swift consumer in fair mode (per-partition queues served round-robin).")
    var fair = false

    func run() throws {
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        let topic = "bench-readings"
        try broker.createTopic(topic, partitions: partitions)

        let produced = try BenchSupport.produceReadings(to: broker, topic: topic, count: records, devices: 5000)
        let perPartition = produced / Int(partitions)
        print("produced \(records) records, \(produced) value bytes (avg \(produced / max(records, 1)) B) to \(partitions) partitions")
        if perPartition > 4 * 1_048_576 {
            print("warning: ~\(perPartition / 1_048_576) MiB per partition is near the mock broker's ~5 MiB retention; use more --partitions")
        }

        let base: [String: String] = [
            "bootstrap.servers": broker.bootstrapServers,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "log_level": "3",
            // With the default 500 ms, how often a fetch waits out the broker's max wait
            // decides the figure (bimodal runs of either side); 10 ms measures the consumers.
            "fetch.wait.max.ms": "10",
        ]

        var cRuns: [ConsumeMeasurement] = []
        var swiftRuns: [ConsumeMeasurement] = []
        for run in 1...max(runs, 1) {
            var config = KafkaConfig(base)
            config["group.id"] = "bench-c-\(run)"
            let c = try PlainCConsumeLoop.consume(config: config, topic: topic, records: records, timeout: .seconds(300))
            report("C loop     run \(run)", c)
            cRuns.append(c)

            config["group.id"] = "bench-swift-\(run)"
            let swift = try consumeWithSwift(config: config, topic: topic)
            report("\(swiftLabel) run \(run)", swift)
            swiftRuns.append(swift)
        }
        let bestC = cRuns.max { $0.recordsPerSecond < $1.recordsPerSecond }!
        let bestSwift = swiftRuns.max { $0.recordsPerSecond < $1.recordsPerSecond }!
        print("")
        report("C loop     best ", bestC)
        report("\(swiftLabel) best ", bestSwift)
        let ratio = bestSwift.recordsPerSecond / bestC.recordsPerSecond
        print("ratio Swift / C: \(format(ratio, 3)) (target >= 0.9)")
        if bestC.valueBytes != bestSwift.valueBytes || bestC.firstByteSum != bestSwift.firstByteSum {
            print("warning: the two sides read different bytes (C \(bestC.valueBytes), Swift \(bestSwift.valueBytes))")
        }
    }


    private func consumeWithSwift(config: KafkaConfig, topic: String) throws -> ConsumeMeasurement {
        // Like the C loop, start the clock when the partitions are assigned.
        var start: ContinuousClock.Instant?
        let consumer = try KafkaConsumer(config: config, fairPartitions: fair) { _, event in
            if case .assigned = event, start == nil { start = .now }
        }
        try consumer.subscribe(topics: [topic])
        let deadline = ContinuousClock.now + .seconds(300)
        var count = 0
        var valueBytes = 0
        var firstByteSum = 0
        while count < records {
            guard ContinuousClock.now < deadline else { throw ValidationError("Swift consumer timed out after \(count) records") }
            let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: batch)
            for message in poll.messages {
                if let value = message.value {
                    valueBytes += value.count
                    if value.count > 0 { firstByteSum += Int(value[0]) }
                }
            }
            count += poll.messages.count
        }
        let elapsed = start.map { ContinuousClock.now - $0 } ?? .zero
        try consumer.close()
        let (seconds, attoseconds) = elapsed.components
        return ConsumeMeasurement(
            records: count, valueBytes: valueBytes, firstByteSum: firstByteSum,
            seconds: Double(seconds) + Double(attoseconds) / 1e18
        )
    }

    private var swiftLabel: String { fair ? "Swift fair" : "Swift     " }

    private func report(_ label: String, _ m: ConsumeMeasurement) {
        print("\(label): \(m.records) records in \(format(m.seconds, 3)) s = \(format(m.recordsPerSecond, 0)) records/s, \(format(m.mebibytesPerSecond, 2)) MiB/s")
    }
}

private func format(_ value: Double, _ decimals: Int) -> String { BenchSupport.format(value, decimals) }
