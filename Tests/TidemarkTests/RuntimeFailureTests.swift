// The runtime in-process, when an output cannot be delivered: `run()` throws the reason,
// `/health` reports failing with it, and the failure is counted.
import EmbeddedKafka
import Foundation
import Kafka
import TestThreads
import Testing
import Tidemark

@Suite(.dedicatedThreads, .timeLimit(.minutes(5)))
struct RuntimeFailureTests {
    @Test func aRefusedOutputFailsTheRuntimeWithItsReasonInHealthAndMetrics() async throws {
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        for topic in ["readings", "echo", "echo-late", "g-echo-changelog"] { try broker.createTopic(topic, partitions: 1) }
        let apps = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-failure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: apps, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: apps) }
        try """
            app: echo
            input: {topic: readings, device: device, time: ts}
            triggers:
              - {name: every_reading, when: temperature > -1000, output: echo}
            late: {output: echo-late}
            """.write(to: apps.appendingPathComponent("echo.yaml"), atomically: true, encoding: .utf8)

        let producer = try KafkaProducer(config: ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"])
        for index in 0..<10 {
            try producer.send(
                topic: "readings", key: "dev-1", value: #"{"device":"dev-1","ts":\#(1_764_288_000_000 + index * 1000),"temperature":20}"#,
                token: UInt64(index))
        }
        try producer.flush(timeout: .seconds(30))
        // TOPIC_AUTHORIZATION_FAILED for the runtime's first produce request.
        try broker.pushRequestErrors(apiKey: 0, errors: [29])

        let runtime = try TidemarkRuntime(
            options: .init(kafka: ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"], apps: apps.path, group: "g"))
        await #expect(throws: RuntimeFailure.self) { try await runtime.run() }

        let report = runtime.health.report
        #expect(!report.healthy)
        #expect(
            report.json.wholeMatch(of: #/\{"status":"failing","detail":"delivery to echo/\d+ failed: KafkaError TOPIC_AUTHORIZATION_FAILED \(29\)[^"]*"\}\n?/#) != nil,
            "\(report.json)")
        let exposition = String(decoding: runtime.metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("tidemark_delivery_failures_total 1\n"), "\(exposition)")
    }
}
