// Retention overtakes a stopped process: the records it never read are not skipped in silence.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("offset resets")
    struct OffsetResets {
        @Test("the oldest input is gone when a process starts again: the skipped records are counted by reason, logged with partition and offsets, and /health says degraded")
        func retentionOvertakesTheConsumer() throws {
            let scratch = try ScratchDirectory("offset-reset")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings"] + endToEndOutputTopics + ["e2e-late"] { try broker.createTopic(topic, partitions: 1) }
            let readings = try simulateReadings(into: scratch, count: 100)
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            let first = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { first.tool.kill() }
            try first.waitForRecordsIn(app: "e2e", readings.count)
            #expect(try first.stop() == 0, "\(first.tool.stderr.text.suffix(2000))")

            // The embedded broker keeps about 5 MiB of a partition: 7 MB more drop the oldest
            // batches, the readings the state covers among them.
            let padding = String(repeating: "x", count: 10_000)
            let padded = (0..<700).map { #"{"pad":"\#(padding)","# + readings[$0 % readings.count].dropFirst() }
            let more = try TestProducer(bootstrap: broker.bootstrapServers)
            try more.sendReadings(padded, topic: "readings")
            try more.finish()
            let probe = try KafkaConsumer(config: clientConfig(broker.bootstrapServers, ["group.id": "probe"]))
            defer { try? probe.close() }
            let low = try probe.watermarks(topic: "readings", partition: 0, timeout: .seconds(10)).low
            try #require(low > Int64(readings.count), "the broker kept the first readings (low watermark \(low))")

            let again = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            let skipped = #"tidemark_records_skipped_total{reason="offset_reset"}"#
            try waitUntil("skipped records counted: \(again.sample(skipped) ?? "nil"); \(again.tool.stderr.text.suffix(2000))", within: .seconds(60)) {
                again.sample(skipped) != nil
            }
            #expect(again.sample(skipped) == "\(low - Int64(readings.count))")
            let logged = again.problemsLogged.filter { $0.contains("records skipped: the partition's position was out of range and was reset") }
            #expect(logged.count == 1, "\(again.problemsLogged)")
            #expect(logged.first?.contains("from=\(readings.count) partition=readings/0") ?? false, "\(logged)")
            #expect(logged.first?.contains("to=\(low)") ?? false, "\(logged)")
            let degraded = #"{"status":"degraded","detail":"records skipped by offset resets: readings/0 offsets \#(readings.count)..<\#(low)"}"#
            try waitUntil("degraded health; /health \(again.health ?? "nil")", within: .seconds(10)) { again.health == degraded + "\n" }
            try again.waitForRecordsIn(app: "e2e", Int(Int64(readings.count + padded.count) - low))
            #expect(try again.stop() == 0, "\(again.tool.stderr.text.suffix(2000))")
        }
    }
}
