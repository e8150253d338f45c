// `tidemark-bench restore`: how fast a partition's state comes back after a crash or a move.
// Devices with open windows are checkpointed into a changelog topic on an embedded broker,
// then the restorer `tidemark run` uses reads them back: device-window states per second,
// the whole restore's time, and changelog bytes per device-window.
import ArgumentParser
import EmbeddedKafka
import Foundation
import Kafka
import Logging
import Streaming
import Tidemark

struct BenchRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore rate of changelog state: 100,000 devices with 30 open windows each.")

    @Option(help: "Devices.")
    var devices = 100_000

    @Option(help: "Open one-minute windows per device.")
    var windows = 30

    @Option(help: "Partitions of the input (and changelog) topic (the embedded broker keeps ~5 MiB per partition).")
    var partitions: Int32 = 64

    static let app = """
        app: bench
        input: {topic: readings, device: device, time: ts}
        watermark: {out_of_order: 1h}
        series:
          - name: minute
            window: {size: 1m}
            allowed_lateness: 1h
            aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
            output: bench-results
        """

    func run() async throws {
        bootstrapLogging(level: .warning)
        let app = try AppLoader.parse([(file: "bench.yaml", yaml: Self.app)])[0]
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        let changelog = "bench-restore-changelog"
        try broker.createTopic(changelog, partitions: partitions)
        try broker.createTopic("readings", partitions: partitions)

        // A device's reading of minute m is processed as offset m of its partition, so the
        // state covers offsets up to `windows`: the input partitions must hold them, or the
        // restore refuses a changelog ahead of its input. They hold each minute's reading of
        // one of their devices.
        func reading(device: Int, minute: Int) -> String {
            #"{"device":"dev-\#(device)","ts":\#(1_764_288_000_000 + Int64(minute) * 60_000 + Int64(device % 60_000)),"temperature":\#(15 + device % 20).\#(minute % 10)}"#
        }
        let producer = try KafkaProducer(config: [
            "bootstrap.servers": broker.bootstrapServers, "linger.ms": "20", "batch.size": "1000000",
            "queue.buffering.max.messages": "1000000", "log_level": "3",
        ])
        for partition in 0 ..< Int(partitions) {
            for minute in 0 ..< windows {
                try producer.send(topic: "readings", partition: Int32(partition), key: nil, value: reading(device: partition, minute: minute), token: 0)
            }
        }
        try producer.flush(timeout: .seconds(60))

        // Every device, one reading a minute: `windows` windows open (out_of_order keeps them so).
        let processor = try AppProcessor(app: app)
        let sink = DiscardingOutputSink()
        let started = ContinuousClock.now
        let now = wallClockMillis()
        var line: [UInt8] = []
        for minute in 0 ..< windows {
            for device in 0 ..< devices {
                line.removeAll(keepingCapacity: true)
                line.append(contentsOf: reading(device: device, minute: minute).utf8)
                _ = line.withUnsafeBytes {
                    processor.process(
                        value: $0, key: nil, timestamp: nil, partition: Int32(device) % partitions, offset: Int64(minute), now: now,
                        into: sink)
                }
            }
        }
        print("built \(devices) devices × \(windows) open windows in \(BenchSupport.format(BenchSupport.seconds(ContinuousClock.now - started), 1)) s")

        // Checkpoint them all, as `tidemark run` does, and write them to the changelog.
        let encodeStart = ContinuousClock.now
        var batch = ChangelogBatch()
        var changed: [DeviceID] = []
        for partition in 0 ..< partitions {
            guard let state = processor.state(of: partition) else { continue }
            changed.removeAll(keepingCapacity: true)
            state.engine.takeChangedDevices(into: &changed)
            for device in changed {
                batch.appendDevice(device, of: state, topic: changelog, partition: partition, position: state.position)
            }
            batch.appendPartition(of: state, topic: changelog, partition: partition, position: state.position)
        }
        let encodeSeconds = BenchSupport.seconds(ContinuousClock.now - encodeStart)
        var valueBytes = 0
        batch.bytes.withUnsafeBytes { bytes in
            for (index, record) in batch.records.enumerated() {
                let value = record.value.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
                valueBytes += UnsafeRawBufferPointer(rebasing: bytes[record.key]).count + (value?.count ?? 0)
                try? producer.send(
                    topic: record.topic, partition: record.partition, key: UnsafeRawBufferPointer(rebasing: bytes[record.key]),
                    value: value, token: UInt64(index))
                if index % 10_000 == 0 { producer.poll { _ in } }
            }
        }
        try producer.flush(timeout: .seconds(300))
        let states = devices * windows
        print("checkpoint: \(batch.records.count) records, \(valueBytes) bytes: \(BenchSupport.format(Double(valueBytes) / Double(states), 1)) bytes per device-window (keys and snappy values), encoded in \(BenchSupport.format(encodeSeconds, 2)) s")

        // Restore every partition through the restorer `tidemark run` uses.
        let restorer = Restorer(
            config: [
                "bootstrap.servers": broker.bootstrapServers, "group.id": "bench-restore", "log_level": "3", "fetch.wait.max.ms": "10",
            ],
            clock: wallClockMillis, logger: Logger(label: "bench"), onResult: {})
        defer { restorer.stop() }
        let restoreStart = ContinuousClock.now
        for partition in 0 ..< partitions {
            restorer.request(
                RestoreRequest(
                    generation: Int(partition), topic: "readings", partition: partition,
                    apps: [.init(definition: app, changelog: changelog)], freshStart: 0))
        }
        var restored: [RestoredPartition] = []
        while restored.count < Int(partitions) {
            restored += restorer.takeResults()
            try await Task.sleep(for: .milliseconds(1))
        }
        let restoreSeconds = BenchSupport.seconds(ContinuousClock.now - restoreStart)
        if let failure = restored.first(where: { $0.error != nil }) { throw ValidationError("restore failed: \(failure.error!)") }
        let devicesRestored = restored.map(\.devices).reduce(0, +)
        guard devicesRestored == devices else { throw ValidationError("restored \(devicesRestored) of \(devices) devices") }
        let engineSeconds = restored.map(\.seconds).reduce(0, +)
        print("restore: \(devicesRestored) devices, \(states) device-window states in \(BenchSupport.format(restoreSeconds, 2)) s: \(BenchSupport.format(Double(states) / restoreSeconds / 1e6, 2)) M states/s (target >= 1 M/s)")
        let readSeconds = restored.map(\.readSeconds).reduce(0, +)
        print("  summed over partitions: reading the changelog \(BenchSupport.format(readSeconds, 2)) s, rebuilding state \(BenchSupport.format(engineSeconds - readSeconds, 2)) s")
    }
}

/// Drops what an app produces (the benchmark measures state, not outputs).
final class DiscardingOutputSink: OutputSink {
    func send(
        topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, device: UnsafeRawBufferPointer, windowEnd: Int64?
    ) {}

    func sendLate(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason) {}
}
