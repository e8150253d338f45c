// The one loop that sends simulated readings somewhere (a Kafka topic or a JSON-lines file),
// for `tidemark simulate`, the demo and the benchmarks: at the wall-clock pace (a start in
// the past sends its backlog at once) or as fast as possible.
import Foundation
import Kafka

/// Where simulated readings go.
package protocol ReadingDestination: AnyObject {
    /// Sends one reading: `value` is its JSON, the key its device id.
    func send(_ reading: SimulatedReading, value: [UInt8]) throws
    /// Called while waiting for the next reading's send time.
    func idle() throws
    /// Delivers everything sent; throws if anything could not be.
    func finish() throws
}

extension ReadingSimulator {
    /// Sends readings to `destination` until `count` are sent (nil: no end) or `stop` is
    /// requested, then finishes the destination. Returns the number sent.
    ///
    /// - Parameter paced: send each reading when the wall clock reaches its send time.
    package mutating func feed(
        _ destination: some ReadingDestination, count: Int?, paced: Bool, until stop: StopRequest,
        onSend: (Int) -> Void = { _ in }
    ) throws -> Int {
        var sent = 0
        var value: [UInt8] = []
        while !stop.isRequested, count.map({ sent < $0 }) ?? true {
            let reading = next()
            if paced {
                while reading.sendTime > wallClockMillis(), !stop.isRequested {
                    try destination.idle()
                    usleep(UInt32(min(50, max(1, reading.sendTime - wallClockMillis())) * 1000))
                }
                if stop.isRequested { break }
            }
            value.removeAll(keepingCapacity: true)
            Self.appendJSON(reading, to: &value)
            try destination.send(reading, value: value)
            sent += 1
            onSend(sent)
        }
        try destination.finish()
        return sent
    }
}

/// Readings to a Kafka topic, keyed by device id, the message timestamp set to when the
/// device sends them, each device's in the partition Kafka's Java clients would choose
/// (murmur2 of the key), as `tidemark run` places results: a device's readings and its
/// results share a partition number.
package final class KafkaReadingDestination: ReadingDestination {
    private let producer: KafkaProducer
    private let topic: String
    private let names: [[UInt8]]
    /// Whether records are keyed by their device, or have no key (spread at random).
    private let keyed: Bool
    private var sent = 0
    private var failures: [KafkaError] = []

    /// - Parameters:
    ///   - devices: the simulator's device count (their names are made once).
    ///   - keyed: key each record by its device; otherwise records have no key.
    package init(config: KafkaConfig, topic: String, devices: Int, keyed: Bool = true) throws {
        producer = try KafkaProducer(config: config.withDefaults(["linger.ms": "20", "partitioner": "murmur2_random"]))
        self.topic = topic
        self.keyed = keyed
        names = (0..<devices).map { Array(ReadingSimulator.deviceName($0).utf8) }
    }

    package func send(_ reading: SimulatedReading, value: [UInt8]) throws {
        try producer.send(topic: topic, key: keyed ? names[reading.device] : nil, value: value, timestamp: reading.sendTime, token: 0)
        sent += 1
        // Serving every send is what a producer costs; every 1,000 keeps a backlog fast.
        if sent % 1000 == 0 { try idle() }
    }

    package func idle() throws {
        producer.poll { report in
            if let error = report.error, failures.count < 5 { failures.append(error) }
        }
    }

    package func finish() throws {
        try producer.flush(timeout: .seconds(120))
        try idle()
        if let first = failures.first {
            throw ReadingFeedError(reason: "readings could not be delivered to \(topic): \(first)")
        }
    }
}

/// Readings as JSON lines in a file.
package final class FileReadingDestination: ReadingDestination {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    package init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ReadingFeedError(reason: "cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    package func send(_ reading: SimulatedReading, value: [UInt8]) throws {
        buffer.append(contentsOf: value)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 20 { try idle() }
    }

    package func idle() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    package func finish() throws {
        try idle()
        try handle.close()
    }
}

/// Simulated readings could not be sent.
package struct ReadingFeedError: Error, CustomStringConvertible {
    package var reason: String
    package var description: String { reason }
}
