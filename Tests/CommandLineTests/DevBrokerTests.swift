// `tidemark dev-broker`: an embedded Kafka cluster in a process of its own, reachable by
// any client through the address it prints first.
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("tidemark dev-broker")
    struct DevBroker {
        /// Produces one keyed record to `topic` through `bootstrap` and reads it back.
        func expectRoundTrip(through bootstrap: String, topic: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let producer = try TestProducer(bootstrap: bootstrap)
            try producer.send(topic: topic, key: "dev-000001", value: #"{"device":"dev-000001","ts":1}"#)
            try producer.finish(within: .seconds(20))
            // Unknown topics are auto-created with 4 partitions.
            let read = try readTopics([topic], partitions: 4, bootstrap: bootstrap)[topic, default: []]
            #expect(read.map(\.keyText) == ["dev-000001"], sourceLocation: sourceLocation)
            #expect(read.map(\.valueText) == [#"{"device":"dev-000001","ts":1}"#], sourceLocation: sourceLocation)
        }

        @Test("prints its bootstrap address first, creates the repository's topics, serves clients, exits 0 on SIGTERM")
        func servesTheRepositoryTopics() throws {
            let broker = try ToolProcess(["dev-broker", "--topics", repositoryRoot().appendingPathComponent("topics").path])
            defer { broker.kill() }
            let bootstrap = try broker.firstLine()
            #expect(bootstrap.wholeMatch(of: /127\.0\.0\.1:\d+/) != nil, "first line: \(bootstrap)")

            try expectRoundTrip(through: bootstrap, topic: "round-trip")
            // topics/tidemark.yaml gives mean-temperature 8 partitions: 7 is the last one.
            let producer = try TestProducer(bootstrap: bootstrap)
            try producer.send(topic: "mean-temperature", key: "dev-000001", value: "{}", partition: 7)
            try producer.finish(within: .seconds(20))
            do {
                let consumer = try KafkaConsumer(config: clientConfig(bootstrap, ["group.id": "partitions"]))
                defer { try? consumer.close() }
                #expect(try consumer.watermarks(topic: "mean-temperature", partition: 7, timeout: .seconds(10)) == (0, 1))
                #expect(throws: KafkaError.self) { try consumer.watermarks(topic: "mean-temperature", partition: 8, timeout: .seconds(10)) }
            }

            #expect(try broker.stop() == 0)
            #expect(broker.stdout.lines == [bootstrap])
            #expect(broker.stderr.text.contains(
                "created 8 topics: readings, mean-temperature, hourly-humidity, device-sessions, alerts, readings-late, humidity-late, sessions-late"))
        }

        @Test("--port N serves the bootstrap address 127.0.0.1:N; SIGINT stops it too")
        func fixedPort() throws {
            let port = try freeLoopbackPort()
            let broker = try ToolProcess(["dev-broker", "--port", "\(port)"])
            defer { broker.kill() }
            #expect(try broker.firstLine() == "127.0.0.1:\(port)")
            try expectRoundTrip(through: "127.0.0.1:\(port)", topic: "through-fixed-port")
            #expect(try broker.stop(signal: SIGINT) == 0)
        }

        @Test("creates thousands of topics from --topics, each with its partitions, and serves them")
        func createsThousandsOfTopics() throws {
            // librdkafka's mock cluster lost wake-ups between topic creations: 2,000 topics took minutes.
            let directory = try ScratchDirectory("dev-broker-topics")
            defer { directory.remove() }
            let partitions = Dictionary(uniqueKeysWithValues: (0..<2000).map { (String(format: "many-%04d", $0), Int32($0 % 8 + 1)) })
            try directory.write(
                "topics.yaml", "topics:\n" + partitions.sorted { $0.key < $1.key }.map { "  - {name: \($0.key), partitions: \($0.value)}\n" }.joined())
            let broker = try ToolProcess(["dev-broker", "--topics", directory.path("topics.yaml")])
            defer { broker.kill() }
            let bootstrap = try broker.firstLine(within: .seconds(120))

            #expect(try KafkaTopicAdmin.partitionCounts(of: Array(partitions.keys), config: clientConfig(bootstrap), timeout: .seconds(30)) == partitions)
            // The last topic's last partition takes a record.
            do {
                let producer = try TestProducer(bootstrap: bootstrap)
                try producer.send(topic: "many-1999", key: "dev-000001", value: "{}", partition: 7)
                try producer.finish(within: .seconds(20))
                let consumer = try KafkaConsumer(config: clientConfig(bootstrap, ["group.id": "many"]))
                defer { try? consumer.close() }
                #expect(try consumer.watermarks(topic: "many-1999", partition: 7, timeout: .seconds(10)) == (0, 1))
            }

            #expect(try broker.stop() == 0)
            #expect(broker.stderr.text.contains("created 2000 topics: many-0000, many-0001, "))
        }

        @Test("--apps DIR --group G also creates each app's G-<app>-changelog with its input topic's partitions")
        func createsTheAppsChangelogs() throws {
            let root = repositoryRoot()
            let broker = try ToolProcess([
                "dev-broker", "--topics", root.appendingPathComponent("topics").path,
                "--apps", root.appendingPathComponent("apps").path, "--group", "plant",
            ])
            defer { broker.kill() }
            let bootstrap = try broker.firstLine()
            let changelogs = ["plant-humidity-changelog", "plant-sessions-changelog", "plant-thermostat-changelog"]
            let counts = try KafkaTopicAdmin.partitionCounts(
                of: changelogs + ["readings"], config: clientConfig(bootstrap), timeout: .seconds(10))
            // topics/tidemark.yaml gives readings 8 partitions.
            #expect(counts == Dictionary(uniqueKeysWithValues: (changelogs + ["readings"]).map { ($0, 8) }))
            #expect(try broker.stop() == 0)
            #expect(broker.stderr.text.contains(changelogs.joined(separator: ", ")), "\(broker.stderr.text)")
        }
    }
}
