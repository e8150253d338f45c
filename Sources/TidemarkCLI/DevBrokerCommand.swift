// `tidemark dev-broker`: librdkafka's mock Kafka cluster on loopback, for development and
// tests. Prints the bootstrap address as its first line and serves until SIGINT/SIGTERM.
import ArgumentParser
import EmbeddedKafka
import Foundation
import Kafka
import Tidemark
import UnixSignals

struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an embedded Kafka broker on loopback until stopped.",
        discussion: """
            The broker is librdkafka's mock cluster: the real Kafka protocol, in memory, with \
            limits (about 5 MiB retained per partition, no admin API, plaintext only). Unknown \
            topics are auto-created with 4 partitions.
            """)

    @Option(help: "A fixed bootstrap port on 127.0.0.1 (the brokers' own ports are random).")
    var port: Int?

    @Option(help: "Number of brokers.")
    var brokers: Int = 1

    @Option(help: "Create the topics of these topic files (a directory or one file).")
    var topics: String?

    @OptionGroup var changelog: ChangelogOptions

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1...65535") }
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let definitions = try loadingConfiguration { () throws(ConfigErrors) in
            var definitions = try topics.map { (topics) throws(ConfigErrors) in try TopicLoader.load(path: topics) } ?? []
            if let apps = changelog.apps {
                // A changelog has its input topic's partitions; an input topic not declared
                // here is auto-created by the embedded broker with 4.
                let declared = Dictionary(definitions.map { ($0.name, $0.partitions) }, uniquingKeysWith: { first, _ in first })
                let needed = ChangelogTopic.needed(by: try AppLoader.load(path: apps, group: changelog.group), group: changelog.group)
                definitions += needed.map { $0.definition(partitions: declared[$0.inputTopic] ?? 4) }
            }
            return definitions
        }
        let broker = try EmbeddedKafkaBroker(brokers: brokers)
        try broker.createTopics(definitions.map { topic in
            KafkaNewTopic(name: topic.name, partitions: Int32(topic.partitions), replicationFactor: Int32(min(topic.replicationFactor ?? 1, brokers)))
        })
        var forwarder: BootstrapForwarder?
        if let port {
            let first = String(broker.bootstrapServers.split(separator: ",")[0])
            forwarder = try BootstrapForwarder(port: port, target: first)
            printLine("127.0.0.1:\(port)")
        } else {
            printLine(broker.bootstrapServers)
        }
        if !definitions.isEmpty {
            // Thousands of names would bury the rest of the output.
            let named = definitions.prefix(50).map(\.name).joined(separator: ", ")
            printError("created \(definitions.count) topics: \(named)\(definitions.count > 50 ? ", …" : "")")
        }
        for await _ in signals { break }
        forwarder?.stop()
        broker.stop()
    }
}
