// What the end-to-end benchmarks share: an embedded broker loaded with simulated readings
// and scratch directories for app files.
import ArgumentParser
import Foundation
import Kafka
import Tidemark

enum BenchSupport {
    /// Produces `count` simulated readings (no delays, keyed by device) to `topic`, spread
    /// by key over its partitions; returns the value bytes sent.
    @discardableResult
    static func produceReadings(
        to broker: EmbeddedKafkaBroker, topic: String, count: Int, devices: Int, seed: UInt64 = 1,
        start: Int64 = 1_764_288_000_000
    ) throws -> Int {
        let producer = try KafkaProducer(config: [
            "bootstrap.servers": broker.bootstrapServers, "linger.ms": "20", "batch.size": "1000000",
            "queue.buffering.max.messages": "500000", "log_level": "3",
        ])
        // Devices read once a second each, as in the engine benchmark.
        var simulator = ReadingSimulator(devices: devices, rate: Double(devices), start: start, seed: seed, delays: .none)
        let names = (0..<devices).map { Array(ReadingSimulator.deviceName($0).utf8) }
        var value: [UInt8] = []
        var bytes = 0
        var failed = 0
        for index in 0..<count {
            let reading = simulator.next()
            value.removeAll(keepingCapacity: true)
            ReadingSimulator.appendJSON(reading, to: &value)
            bytes += value.count
            try producer.send(topic: topic, key: names[reading.device], value: value, token: UInt64(index))
            if index % 10_000 == 0 { producer.poll { if $0.error != nil { failed += 1 } } }
        }
        try producer.flush(timeout: .seconds(120))
        producer.poll { if $0.error != nil { failed += 1 } }
        if failed > 0 { throw ValidationError("\(failed) readings could not be produced") }
        return bytes
    }

    /// A fresh scratch directory.
    static func scratchDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "tidemark-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// `value` with `decimals` decimals.
    static func format(_ value: Double, _ decimals: Int = 0) -> String {
        String(format: "%.\(decimals)f", value)
    }
}
