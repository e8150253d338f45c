// `tidemark run` stopped (or killed) and started again on the same consumer group: it resumes
// where its changelog says its state stands, and (the central promise across restarts) its
// results still equal batch's.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("restart")
    struct Restart {
        @Test("a restarted service resumes where the drain committed, and its results still equal batch's")
        func restartResumesAtTheCommittedOffsets() throws {
            let scratch = try ScratchDirectory("restart")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch, count: 8_000)
            let half = readings.count / 2
            try scratch.write("apps/e2e.yaml", endToEndApp)

            let broker = try endToEndBroker()
            defer { broker.stop() }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings[..<half], topic: "readings")
            try producer.finish()

            let first = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { first.tool.kill() }
            try first.waitForRecordsIn(app: "e2e", half)
            #expect(try first.stop() == 0, "\(first.tool.stderr.text.suffix(2000))")

            try producer.sendReadings(readings[half...], topic: "readings")
            try producer.finish()
            let second = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { second.tool.kill() }
            try second.waitForRecordsIn(app: "e2e", readings.count - half)
            // Nothing the first one committed is read again.
            #expect(second.recordsIn(app: "e2e") == readings.count - half)
            #expect(try second.stop() == 0, "\(second.tool.stderr.text.suffix(2000))")

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            // The second run restored the first one's windows from the changelog.
            try expectEndToEndOutputs(topics, in: scratch, exercisesLateness: false)
        }
    }
}
