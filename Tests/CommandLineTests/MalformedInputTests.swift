// Records `tidemark run` cannot read go, unchanged, to the app's late topic with the reason
// in headers; the service goes on with the next record.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("malformed input")
    struct MalformedInput {
        static let app = """
            app: guard
            input: {topic: raw, format: json, device: device, time: ts}
            watermark: {per: device, out_of_order: 10s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {mean: mean(temperature), count: count()}
                output: guard-minute
            triggers:
              - {name: any_reading, when: temperature > -1000, output: guard-events}
            late: {output: guard-late}

            """

        /// What lands on the late topic: the message as it was sent, plus the reason.
        struct LateRecord: Equatable, CustomStringConvertible {
            var key: [UInt8]?
            var value: [UInt8]?
            var headers: [String: String]

            var description: String {
                "key \(key.map { String(decoding: $0, as: UTF8.self) } ?? "nil") value \(value.map { String(decoding: $0, as: UTF8.self) } ?? "nil") \(headers)"
            }
        }

        static func malformed(_ key: String?, _ value: [UInt8]?, error: String) -> LateRecord {
            LateRecord(
                key: key.map { Array($0.utf8) }, value: value,
                headers: ["tidemark-reason": "malformed", "tidemark-error": error])
        }

        static let badRecords: [LateRecord] = [
            malformed("k1", Array("not json".utf8), error: "not valid JSON"),
            malformed(nil, Array("[1,2,3]".utf8), error: "not a JSON object"),
            malformed("k3", Array(#"{"ts":1795824000000,"temperature":20.0}"#.utf8), error: "missing device id"),
            malformed("k4", Array(#"{"device":"d1","temperature":20.0}"#.utf8), error: "missing event time"),
            malformed(
                "k5", Array(#"{"device":"d1","ts":1795824000000,"temperature":"hot"}"#.utf8),
                error: "an aggregated field is not a number"),
            malformed("k6", Array(#"{"device":"d"#.utf8) + [0xFF, 0xFE] + Array(#"","ts":1795824000000}"#.utf8), error: "invalid UTF-8"),
            malformed("k7", nil, error: "not valid JSON"),
        ]

        @Test("each unreadable record lands unchanged on the late topic with its reason, and the next record is processed")
        func unreadableRecordsGoToTheLateTopic() throws {
            let scratch = try ScratchDirectory("malformed")
            defer { scratch.remove() }
            try scratch.write("apps/guard.yaml", Self.app)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            // One partition each, so the late topic keeps the order the records were sent in.
            for topic in ["raw", "guard-minute", "guard-events", "guard-late"] { try broker.createTopic(topic, partitions: 1) }

            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            for record in Self.badRecords { try producer.send(topic: "raw", key: record.key, value: record.value) }
            let good = #"{"device":"d1","ts":1795824000000,"temperature":21.5,"humidity":40.0}"#
            try producer.send(topic: "raw", key: "d1", value: good)
            try producer.finish()

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "guard", Self.badRecords.count + 1)
            let metrics = httpGet(port: service.metricsPort, path: "/metrics")?.body ?? ""
            #expect(metric(#"tidemark_malformed_records_total{app="guard"}"#, in: metrics) == Self.badRecords.count)
            #expect(metric(#"tidemark_late_records_total{app="guard"}"#, in: metrics) == 0)
            #expect(service.tool.isRunning)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty)

            let topics = try readTopics(["guard-late", "guard-events"], partitions: 1, bootstrap: broker.bootstrapServers)
            let late = topics["guard-late", default: []].map { LateRecord(key: $0.key, value: $0.value, headers: $0.headers) }
            #expect(late == Self.badRecords)
            #expect(topics["guard-events", default: []].map(\.valueText) == [
                #"{"app":"guard","trigger":"any_reading","device":"d1","time":1795824000000,"value":{"temperature":21.5,"humidity":40.0}}"#
            ])
        }
    }
}
