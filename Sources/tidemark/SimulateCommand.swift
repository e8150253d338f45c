// `tidemark simulate`: device readings with the delays real devices have, to a Kafka topic
// or a JSON-lines file.
import ArgumentParser
import Foundation
import Kafka
import Tidemark

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Send simulated device readings to Kafka (or a file).",
        discussion: """
            Readings are {"device","ts","temperature","humidity"}, keyed by device id, with the \
            Kafka timestamp set to when the device sends them. Under --delays realistic, devices \
            are late by seconds (congestion), minutes (duty cycling: a 5-minute buffer flushed in \
            order) or hours (outages, then a backfill while live data resumes), and about one \
            reading in 500 is faulty. The output is the same for the same --seed and --start. \
            Readings are sent when the wall clock reaches their send time: a --start in the past \
            sends the backlog at once, then goes on live (--fast sends everything at once).
            """)

    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT…] (or use --output).")
    var brokers: String?

    @Option(
        name: .customLong("property"),
        help: ArgumentHelp("A librdkafka producer property; repeatable.", valueName: "name=value"))
    var properties: [String] = []

    @Option(help: "The topic to send to.")
    var topic: String = "readings"

    @Option(help: "Write JSON lines to this file instead of Kafka.")
    var output: String?

    @Option(help: "Number of devices.")
    var devices: Int = 100

    @Option(help: "Readings per second, all devices together.")
    var rate: Double = 100

    @Option(help: "Stop after this many readings (default: run until stopped).")
    var count: Int?

    @Option(help: "Seed of the simulation.")
    var seed: UInt64 = 1

    @Option(help: "Delays: none or realistic.")
    var delays: DelayProfile = .realistic

    @Option(help: "Event time of the first reading: \(TimeArgument.accepted).")
    var start: String = "now"

    @Flag(help: "Send as fast as possible instead of at the wall-clock pace.")
    var fast = false

    func validate() throws {
        guard (brokers == nil) != (output == nil) else { throw ValidationError("give one of --brokers or --output") }
        guard devices > 0 else { throw ValidationError("--devices must be at least 1") }
        guard rate > 0 else { throw ValidationError("--rate must be greater than zero") }
        guard TimeArgument.milliseconds(start, now: 0) != nil else {
            throw ValidationError("--start: expected \(TimeArgument.accepted)")
        }
        if output != nil && count == nil { throw ValidationError("--output needs --count") }
        for property in properties where !property.contains("=") {
            throw ValidationError("--property expects name=value, found '\(property)'")
        }
    }

    func run() throws {
        let shutdown = ShutdownSignal.installed()
        let now = wallClockMillis()
        let first = TimeArgument.milliseconds(start, now: now)!
        var simulator = ReadingSimulator(devices: devices, rate: rate, start: first, seed: seed, delays: delays)
        let destination: any ReadingDestination
        if let output {
            destination = try FileDestination(path: output)
        } else {
            var config = KafkaConfig(["bootstrap.servers": brokers!, "linger.ms": "20"])
            KafkaClientOptions.apply(properties, to: &config)
            destination = try KafkaDestination(config: config, topic: topic)
        }
        var sent = 0
        var value: [UInt8] = []
        while !shutdown.isRequested, count.map({ sent < $0 }) ?? true {
            let reading = simulator.next()
            if !fast {
                while reading.sendTime > wallClockMillis(), !shutdown.isRequested {
                    try destination.idle()
                    usleep(UInt32(min(50, max(1, reading.sendTime - wallClockMillis())) * 1000))
                }
            }
            value.removeAll(keepingCapacity: true)
            ReadingSimulator.appendJSON(reading, to: &value)
            try destination.send(device: ReadingSimulator.deviceName(reading.device), value: value, sendTime: reading.sendTime)
            sent += 1
        }
        try destination.finish()
        printError("sent \(sent) readings")
    }
}

extension DelayProfile: ExpressibleByArgument {}

/// Where simulated readings go.
private protocol ReadingDestination {
    func send(device: String, value: [UInt8], sendTime: Int64) throws
    /// Called while waiting for the next send time.
    func idle() throws
    func finish() throws
}

private final class KafkaDestination: ReadingDestination {
    let producer: KafkaProducer
    let topic: String
    var failures = 0

    init(config: KafkaConfig, topic: String) throws {
        producer = try KafkaProducer(config: config)
        self.topic = topic
    }

    func send(device: String, value: [UInt8], sendTime: Int64) throws {
        try producer.send(topic: topic, key: Array(device.utf8), value: value, timestamp: sendTime, token: 0)
        try idle()
    }

    func idle() throws {
        producer.poll { report in
            if let error = report.error {
                failures += 1
                if failures <= 5 { printError("delivery failed: \(error)") }
            }
        }
    }

    func finish() throws {
        try producer.flush(timeout: .seconds(30))
        try idle()
        if failures > 0 { throw ValidationError("\(failures) readings could not be delivered") }
    }
}

private final class FileDestination: ReadingDestination {
    let handle: FileHandle
    var buffer: [UInt8] = []

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ValidationError("cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func send(device: String, value: [UInt8], sendTime: Int64) throws {
        buffer.append(contentsOf: value)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 20 { try idle() }
    }

    func idle() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        try idle()
        try handle.close()
    }
}
