// `tidemark simulate`: device readings with the delays real devices have, to a Kafka topic
// or a JSON-lines file.
import ArgumentParser
import Foundation
import Tidemark
import UnixSignals

struct SimulateCommand: AsyncParsableCommand {
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

    @OptionGroup var kafka: KafkaProperties

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
    }

    func run() async throws {
        let first = TimeArgument.milliseconds(start, now: wallClockMillis())!
        let (devices, rate, seed, delays, count, fast) = (self.devices, self.rate, self.seed, self.delays, self.count, self.fast)
        let (output, topic) = (self.output, self.topic)
        let config = brokers.map { kafka.config(brokers: $0) }
        // Stopped by SIGINT/SIGTERM; what was sent is still delivered before exiting.
        let stop = StopRequest()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let watcher = Task {
            for await _ in signals { break }
            stop.request()
        }
        defer { watcher.cancel() }
        let sent = try await runOnDedicatedThread(name: "tidemark-simulate") {
            var simulator = ReadingSimulator(devices: devices, rate: rate, start: first, seed: seed, delays: delays)
            let destination: any ReadingDestination =
                if let output { try FileReadingDestination(path: output) } else {
                    try KafkaReadingDestination(config: config!, topic: topic, devices: devices)
                }
            return try simulator.feed(destination, count: count, paced: !fast, until: stop)
        }
        printError("sent \(sent) readings")
    }
}

extension DelayProfile: ExpressibleByArgument {}
