// The example apps of the repository (apps/), run together over simulated readings, each
// give batch's results: percentiles, standard deviations and sessions included.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("the example apps")
    struct ExampleApps {
        /// Per example app: its outputs and late topic.
        static let apps: [(file: String, outputs: [String], late: String)] = [
            ("thermostat.yaml", ["mean-temperature", "alerts"], "readings-late"),
            ("humidity.yaml", ["hourly-humidity"], "humidity-late"),
            ("sessions.yaml", ["device-sessions"], "sessions-late"),
        ]

        /// The `out_of_order` of an app file, in milliseconds (the examples change).
        static func outOfOrder(in text: String) throws -> Int64 {
            let match = try #require(text.firstMatch(of: /out_of_order: (\d+)(ms|s|m)\b/))
            let unit: Int64 = switch match.2 { case "ms": 1; case "s": 1000; default: 60_000 }
            return try #require(Int64(match.1)) * unit
        }

        @Test("run over the apps directory gives each app's batch results")
        func exampleAppsEqualBatch() throws {
            let scratch = try ScratchDirectory("examples")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            for app in Self.apps {
                let source = repositoryRoot().appendingPathComponent("apps").appendingPathComponent(app.file)
                try scratch.write("apps/\(app.file)", String(decoding: try Data(contentsOf: source), as: UTF8.self))
            }

            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            let topics = Self.apps.flatMap { $0.outputs + [$0.late] }
            for topic in ["readings"] + topics { try broker.createTopic(topic, partitions: 4) }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            for app in ["thermostat", "humidity", "sessions"] { try service.waitForRecordsIn(app: app, readings.count) }
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")

            let read = try readTopics(topics, partitions: 4, bootstrap: broker.bootstrapServers)
            for app in Self.apps {
                try expectRunOutputs(
                    read, outputTopics: app.outputs, lateTopic: app.late, matchBatchOf: "apps/\(app.file)",
                    over: "readings.jsonl", in: scratch, outOfOrder: Self.outOfOrder(in: scratch.read("apps/\(app.file)")),
                    sessions: app.file == "sessions.yaml", exercisesLateness: false)
            }
        }
    }
}
