// `tidemark bench topics`: how long the embedded broker takes to create many topics, measured
// as `tidemark dev-broker --topics` until its first line, then checked through metadata.
import ArgumentParser
import Foundation
import Kafka

struct BenchTopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Topic creation on the embedded broker: N topics through `tidemark dev-broker --topics`.")

    @Option(help: "Topics to create.")
    var count = 2000

    @Option(help: "Partitions of each topic.")
    var partitions = 4

    @Option(help: "Seconds the broker may take before it is killed and the bench fails.")
    var limit = 600

    func validate() throws {
        guard count >= 1, partitions >= 1, limit >= 1 else { throw ValidationError("--count, --partitions and --limit must be at least 1") }
    }

    func run() throws {
        let executable = try BenchSupport.tidemarkExecutable()
        let directory = try BenchSupport.scratchDirectory("bench-topics")
        let names = (0..<count).map { String(format: "bench-topic-%05d", $0) }
        try ("topics:\n" + names.map { "  - {name: \($0), partitions: \(partitions)}\n" }.joined())
            .write(toFile: directory + "/topics.yaml", atomically: true, encoding: .utf8)

        // The broker prints its address once every topic is created.
        let started = ContinuousClock.now
        let broker = try ChildProcess(executable, ["dev-broker", "--topics", directory + "/topics.yaml"])
        defer { broker.stop() }
        let bootstrap = try broker.firstLine(within: .seconds(limit))
        let seconds = BenchSupport.seconds(ContinuousClock.now - started)

        let counts = try KafkaTopicAdmin.partitionCounts(
            of: names, config: ["bootstrap.servers": bootstrap, "log_level": "3"], timeout: .seconds(60))
        let wrong = names.filter { counts[$0] != Int32(partitions) }
        guard wrong.isEmpty else {
            throw ValidationError("\(wrong.count) of \(count) topics missing or with another partition count, e.g. \(wrong[0]): \(counts[wrong[0]].map(String.init) ?? "missing")")
        }
        print("\(count) topics × \(partitions) partitions: tidemark dev-broker ready after \(BenchSupport.format(seconds, 2)) s (\(BenchSupport.format(Double(count) / seconds, 0)) topics/s, process start and topic file included); metadata lists them all")
    }
}
