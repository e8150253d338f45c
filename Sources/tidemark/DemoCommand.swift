// `tidemark demo`: everything in one process on loopback: an embedded Kafka broker, the
// simulator with realistic delays (starting an hour in the past, so backfills arrive), the
// example apps, and a live view of their results, revisions, triggers and late records.
import ArgumentParser
import Foundation
import Kafka
import Logging
import Synchronization
import Tidemark

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the example apps on an embedded broker with simulated devices, with a live view.")

    @Option(help: "The apps to run.")
    var apps = "apps"

    @Option(help: "The topics to create.")
    var topics = "topics"

    @Option(help: "Simulated devices.")
    var devices = 100

    @Option(help: "Readings per second, all devices together.")
    var rate: Double = 50

    @Option(help: "How far in the past the simulation starts (its backlog is sent at once).")
    var history = "1h"

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Int?

    func run() throws {
        let shutdown = ShutdownSignal.installed()
        bootstrapLogging(level: .warning)
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        let definitions: [TopicDefinition]
        do throws(ConfigErrors) {
            definitions = try TopicLoader.load(path: topics)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        for topic in definitions {
            try broker.createTopic(topic.name, partitions: Int32(topic.partitions))
        }
        let outputs = definitions.map(\.name).filter { $0 != "readings" }

        let runtime: TidemarkRuntime
        do throws(ConfigErrors) {
            runtime = try TidemarkRuntime(
                options: .init(kafka: ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"], apps: apps, group: "tidemark-demo"))
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let (stopRuntime, runtimeFinished) = startOnItsOwnThread(runtime)
        let simulator = try DemoSimulator(
            brokers: broker.bootstrapServers, devices: devices, rate: rate,
            start: TimeArgument.milliseconds("now-\(history)", now: wallClockMillis()) ?? wallClockMillis())
        simulator.start()

        let view = try DemoView(brokers: broker.bootstrapServers, topics: outputs)
        let started = ContinuousClock.now
        var lastDraw = ContinuousClock.now - .seconds(1)
        while !shutdown.isRequested {
            if let duration, ContinuousClock.now - started >= .seconds(duration) { break }
            view.read(for: .milliseconds(200))
            if ContinuousClock.now - lastDraw >= .seconds(1) {
                lastDraw = .now
                view.draw(readingsSent: simulator.sent, readingsConsumed: runtime.recordsConsumed, bootstrap: broker.bootstrapServers)
            }
        }
        simulator.stop()
        stopRuntime.request()
        runtimeFinished.wait()
        view.close()
        view.draw(readingsSent: simulator.sent, readingsConsumed: runtime.recordsConsumed, bootstrap: broker.bootstrapServers)
    }
}

/// The simulator on its own thread, sending readings at the wall-clock pace after the backlog.
private final class DemoSimulator: @unchecked Sendable {
    // @unchecked Sendable: the producer and the simulator are touched only by the simulator
    // thread; the flags and the counter are atomics.
    private let producer: KafkaProducer
    private var simulator: ReadingSimulator
    private let stopping = ShutdownSignal()
    private let done = DispatchSemaphore(value: 0)
    private let sentCount = Atomic<Int>(0)

    init(brokers: String, devices: Int, rate: Double, start: Int64) throws {
        producer = try KafkaProducer(config: ["bootstrap.servers": brokers, "linger.ms": "20", "log_level": "3"])
        simulator = ReadingSimulator(devices: devices, rate: rate, start: start, seed: 42, delays: .realistic)
    }

    var sent: Int { sentCount.load(ordering: .relaxed) }

    func start() {
        Thread { [self] in
            let names = (0..<simulator.devices).map { Array(ReadingSimulator.deviceName($0).utf8) }
            var value: [UInt8] = []
            while !stopping.isRequested {
                let reading = simulator.next()
                while reading.sendTime > wallClockMillis(), !stopping.isRequested {
                    producer.poll { _ in }
                    usleep(20_000)
                }
                value.removeAll(keepingCapacity: true)
                ReadingSimulator.appendJSON(reading, to: &value)
                do {
                    try producer.send(topic: "readings", key: names[reading.device], value: value, timestamp: reading.sendTime, token: 0)
                } catch {
                    printError("simulator: \(error)")
                }
                sentCount.add(1, ordering: .relaxed)
                producer.poll { _ in }
            }
            try? producer.flush(timeout: .seconds(5))
            done.signal()
        }.start()
    }

    func stop() {
        stopping.request()
        done.wait()
    }
}
