// `tidemark simulate`: the same readings for the same seed and start, to a file or to
// Kafka keyed by device.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("tidemark simulate")
    struct Simulate {
        static func arguments(count: Int, seed: Int = 7) -> [String] {
            [
                "--count", "\(count)", "--devices", "4", "--rate", "20", "--seed", "\(seed)",
                "--start", "2026-11-28T00:00:00Z", "--delays", "realistic", "--fast",
            ]
        }

        @Test("the same seed and start give the same lines")
        func reproducibleFile() throws {
            let scratch = try ScratchDirectory("simulate")
            defer { scratch.remove() }
            for (name, seed) in [("first", 7), ("second", 7), ("other-seed", 8)] {
                let run = try runTool(["simulate", "--output", scratch.path("\(name).jsonl")] + Self.arguments(count: 400, seed: seed))
                #expect(run.status == 0)
                #expect(run.stderr == "sent 400 readings\n")
            }
            let first = try scratch.lines("first.jsonl")
            #expect(first.count == 400)
            #expect(try scratch.lines("second.jsonl") == first)
            #expect(try scratch.lines("other-seed.jsonl") != first)
            #expect(Array(first.prefix(3)) == [
                #"{"device":"dev-000000","ts":1795824000000,"temperature":18.8,"humidity":50.0}"#,
                #"{"device":"dev-000001","ts":1795824000050,"temperature":23.0,"humidity":43.9}"#,
                #"{"device":"dev-000003","ts":1795824000150,"temperature":17.1,"humidity":49.0}"#,
            ])
        }

        @Test("to Kafka, each reading is keyed by its device and placed by murmur2 of it, and each device's readings keep their order")
        func keyedByDevice() throws {
            let scratch = try ScratchDirectory("simulate-kafka")
            defer { scratch.remove() }
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            try broker.createTopic("sim", partitions: 4)

            let file = try runTool(["simulate", "--output", scratch.path("sim.jsonl")] + Self.arguments(count: 400))
            #expect(file.status == 0)
            let sent = try runTool(["simulate", "--brokers", broker.bootstrapServers, "--topic", "sim"] + Self.arguments(count: 400))
            #expect(sent.status == 0, "\(sent.stderr)")

            let read = try readTopics(["sim"], partitions: 4, bootstrap: broker.bootstrapServers)["sim", default: []]
            let expected = try scratch.lines("sim.jsonl")
            #expect(read.count == expected.count)
            #expect(read.allSatisfy { $0.keyText != nil && $0.keyText == deviceField(of: $0.valueText ?? "") })
            // Placed as a Java producer (murmur2 of the key) places them, and as run places results.
            #expect(read.allSatisfy { message in
                Array((message.keyText ?? "").utf8).withUnsafeBytes { KafkaPartitioner.murmur2($0, partitions: 4) } == message.partition
            })
            let readByDevice = Dictionary(grouping: read.compactMap(\.valueText), by: { deviceField(of: $0) ?? "" })
            let fileByDevice = Dictionary(grouping: expected, by: { deviceField(of: $0) ?? "" })
            #expect(readByDevice == fileByDevice)
        }
    }
}
