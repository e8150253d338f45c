// Topic files: the repository's topics/tidemark.yaml loads to exact definitions; every kind
// of mistake is reported at its file:line:column; apply against the embedded broker fails
// clearly (it has no admin API).
import EmbeddedKafka
import Foundation
import Kafka
import TestThreads
import Testing
import Tidemark

/// The errors loading `files` reports, one description each.
private func topicErrors(_ files: [(String, String)]) -> [String] {
    do {
        _ = try TopicLoader.parse(files.map { (file: $0.0, yaml: $0.1) })
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

private func topicErrors(_ yaml: String) -> [String] {
    topicErrors([("t.yaml", yaml)])
}

@Suite struct TopicDefinitionTests {
    @Test func repositoryTopicsLoadExactly() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../topics").standardized.path
        let topics = try TopicLoader.load(path: directory)
        #expect(
            topics == [
                TopicDefinition(name: "readings", partitions: 8, replicationFactor: 1, configs: ["retention.ms": "604800000"]),
                TopicDefinition(
                    name: "mean-temperature", partitions: 8, replicationFactor: 1, configs: ["cleanup.policy": "compact"]),
                TopicDefinition(
                    name: "hourly-humidity", partitions: 8, replicationFactor: 1, configs: ["cleanup.policy": "compact"]),
                TopicDefinition(name: "device-sessions", partitions: 8, replicationFactor: 1),
                TopicDefinition(name: "alerts", partitions: 4, replicationFactor: 1),
                TopicDefinition(name: "readings-late", partitions: 4, replicationFactor: 1),
                TopicDefinition(name: "humidity-late", partitions: 4, replicationFactor: 1),
                TopicDefinition(name: "sessions-late", partitions: 4, replicationFactor: 1),
            ])
    }

    @Test func replicationIsOptionalAndConfigValuesKeepTheirText() throws {
        let topics = try TopicLoader.parse([
            (
                file: "t.yaml",
                yaml: """
                    topics:
                      - {name: a, partitions: 1}
                      - name: b
                        partitions: 3
                        configs: {retention.ms: 86400000, min.insync.replicas: 2, compression.type: zstd}
                    """
            )
        ])
        #expect(
            topics == [
                TopicDefinition(name: "a", partitions: 1),
                TopicDefinition(
                    name: "b", partitions: 3,
                    configs: ["retention.ms": "86400000", "min.insync.replicas": "2", "compression.type": "zstd"]),
            ])
    }

    @Test func emptyListIsNoTopics() throws {
        #expect(try TopicLoader.parse([(file: "t.yaml", yaml: "topics: []")]) == [])
    }

    @Test func structuralMistakes() {
        #expect(topicErrors("") == ["t.yaml:1:1: error: empty topics file; expected 'topics:'"])
        #expect(
            topicErrors("topic:\n  - {name: a, partitions: 1}\n") == [
                "t.yaml:1:1: error: unknown key 'topic' in the topics file; allowed keys: topics",
                "t.yaml:1:1: error: missing required key 'topics' in the topics file",
            ])
        #expect(
            topicErrors("topics: {name: a}\n") == [
                "t.yaml:1:9: error: topics must be a list (items starting with '- ')"
            ])
        #expect(
            topicErrors("topics:\n  - {name: a, partitions: 1\n").first?.hasPrefix("t.yaml:3:1: error: invalid YAML:")
                == true)
    }

    @Test func topicMistakesAreEachReportedAtTheirNode() {
        let yaml = """
            topics:
              - name: readings
                partitons: 8
              - name: ""
                partitions: 0
                replication: -1
              - name: "bad name"
                partitions: eight
                replication: 40000
              - name: ok
                partitions: 2
                configs:
                  cleanup.policy: [compact, delete]
                  retention.ms:
              - name: also-ok
                partitions: 2
                configs: compact
            """
        #expect(
            topicErrors(yaml) == [
                "t.yaml:3:5: error: unknown key 'partitons' in a topic; allowed keys: name, partitions, replication, configs",
                "t.yaml:2:5: error: missing required key 'partitions' in a topic",
                "t.yaml:4:11: error: name must not be empty",
                "t.yaml:5:17: error: partitions must be a whole number from 1 to 2147483647, found '0'",
                "t.yaml:6:18: error: replication must be a whole number from 1 to 32767, found '-1'",
                "t.yaml:7:11: error: invalid topic name 'bad name'; a topic name is 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-' (not '.' or '..')",
                "t.yaml:8:17: error: partitions must be a whole number from 1 to 2147483647, found 'eight'",
                "t.yaml:9:18: error: replication must be a whole number from 1 to 32767, found '40000'",
                "t.yaml:13:23: error: config 'cleanup.policy' must be a single value, not a list or mapping",
                "t.yaml:14:20: error: config 'retention.ms' must not be empty",
                "t.yaml:17:14: error: configs must be a mapping of keys to values",
            ])
    }

    @Test func duplicateNamesAcrossAndWithinFiles() {
        let errors = topicErrors([
            ("a.yaml", "topics:\n  - {name: readings, partitions: 8}\n  - {name: alerts, partitions: 4}\n"),
            ("b.yaml", "topics:\n  - {name: alerts, partitions: 4}\n  - {name: x, partitions: 1}\n  - {name: x, partitions: 2}\n"),
        ])
        #expect(
            errors == [
                "b.yaml:2:12: error: duplicate topic 'alerts' (also defined at a.yaml:3:12)",
                "b.yaml:4:12: error: duplicate topic 'x' (also defined at b.yaml:3:12)",
            ])
    }

    @Test func duplicateKeyInOneTopic() {
        #expect(
            topicErrors("topics:\n  - name: a\n    name: b\n    partitions: 1\n") == [
                "t.yaml:2:5: error: duplicate key 'name'"
            ])
    }

    @Test func loadingADirectoryWithoutTopicFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tidemark-topics-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: ConfigErrors([
            ConfigError(file: directory.path, line: nil, column: nil, message: "no topic files (*.yaml, *.yml) in this directory")
        ])) {
            try TopicLoader.load(path: directory.path)
        }
        #expect(throws: ConfigErrors([
            ConfigError(file: directory.path + "/none", line: nil, column: nil, message: "no such file or directory")
        ])) {
            try TopicLoader.load(path: directory.path + "/none")
        }
    }

    /// librdkafka 2.0.2's mock cluster names no controller, so CreateTopics waits, then times
    /// out: `topics apply` explains this rather than hanging or claiming success.
    @Test(.dedicatedThreads) func applyAgainstTheEmbeddedBrokerTimesOutForWantOfAController() throws {
        let broker = try EmbeddedKafkaBroker()
        #expect {
            try TopicApplier.apply(
                TopicDefinition(name: "readings", partitions: 8, replicationFactor: 1),
                config: ["bootstrap.servers": broker.bootstrapServers], timeout: .milliseconds(500))
        } throws: { error in
            (error as? KafkaError)?.code == KafkaError.timedOut
        }
    }
}
