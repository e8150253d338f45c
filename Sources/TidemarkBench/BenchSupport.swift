// What the end-to-end benchmarks share: an embedded broker loaded with simulated readings
// and scratch directories for app files.
import ArgumentParser
import EmbeddedKafka
import Foundation
import Kafka
import Tidemark

enum BenchSupport {
    /// Produces `count` simulated readings (no delays, devices reading once a second each) to
    /// `topic`, keyed by device and spread by key over its partitions (or, not `keyed`, with no
    /// key, spread at random); returns the value bytes sent.
    @discardableResult
    static func produceReadings(
        to broker: EmbeddedKafkaBroker, topic: String, count: Int, devices: Int, seed: UInt64 = 1,
        start: Int64 = 1_764_288_000_000, keyed: Bool = true
    ) throws -> Int {
        let destination = try KafkaReadingDestination(
            config: [
                "bootstrap.servers": broker.bootstrapServers, "batch.size": "1000000",
                "queue.buffering.max.messages": "500000", "log_level": "3",
            ],
            topic: topic, devices: devices, keyed: keyed)
        let counter = ByteCounter(destination)
        var simulator = ReadingSimulator(devices: devices, rate: Double(devices), start: start, seed: seed, delays: .none)
        _ = try simulator.feed(counter, count: count, paced: false, until: StopRequest())
        return counter.bytes
    }

    /// A file of the repository (apps/, topics/), found from the current directory up.
    static func repositoryFile(_ path: String) throws -> String {
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(path).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw ValidationError("no \(path) in the current directory or above: run from the repository")
    }

    /// The `tidemark` executable next to this one, for benchmarks that measure it as a process.
    static func tidemarkExecutable() throws -> String {
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let path = own.deletingLastPathComponent().appendingPathComponent("tidemark").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("no tidemark executable beside \(own.path): build it (swift build -c release)")
        }
        return path
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

    /// The middle value (the upper one of an even count): other work on the machine only ever
    /// slows a round down, so the middle says more than the mean.
    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// `value` with `decimals` decimals.
    static func format(_ value: Double, _ decimals: Int = 0) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

/// Passes readings on and counts their value bytes.
private final class ByteCounter: ReadingDestination {
    private let destination: any ReadingDestination
    private(set) var bytes = 0

    init(_ destination: any ReadingDestination) { self.destination = destination }

    func send(_ reading: SimulatedReading, value: [UInt8]) throws {
        bytes += value.count
        try destination.send(reading, value: value)
    }

    func idle() throws { try destination.idle() }
    func finish() throws { try destination.finish() }
}
