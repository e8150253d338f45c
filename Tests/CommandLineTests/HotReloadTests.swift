// App files added while `tidemark run` is running start within seconds; the apps already
// running go on with their state, without restarting.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("hot reload")
    struct HotReload {
        /// A second app on the same input topic, with outputs of its own.
        static let appB = """
            app: b
            input: {topic: readings, format: json, device: device, time: ts}
            watermark: {per: device, out_of_order: 10s}
            series:
              - name: five_minutes
                window: {size: 5m}
                allowed_lateness: 1m
                aggregate: {min: min(humidity), max: max(humidity), count: count()}
                output: b-five-minutes
            late: {output: b-late}

            """

        @Test("an app file copied into the apps directory starts on new records while the running app goes on; removed, it stops")
        func addedAppStartsWithoutRestartingTheOthers() throws {
            let scratch = try ScratchDirectory("reload")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch, count: 8_000)
            let half = readings.count / 2
            try scratch.write("apps/e2e.yaml", endToEndApp)
            try scratch.write("b.yaml", Self.appB)
            try scratch.write("second-half.jsonl", readings[half...].joined(separator: "\n") + "\n")

            let broker = try endToEndBroker(extraTopics: ["b-five-minutes", "b-late"])
            defer { broker.stop() }

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings[..<half], topic: "readings")
            try producer.finish()
            try service.waitForRecordsIn(app: "e2e", half)

            // Renamed into place, so the watcher never sees half a file; its changelog first.
            try createChangelogs(on: broker, apps: scratch.path("b.yaml"), group: "g")
            try FileManager.default.moveItem(atPath: scratch.path("b.yaml"), toPath: scratch.path("apps/b.yaml"))
            try waitUntil("app b to start; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                service.recordsIn(app: "b") != nil
            }
            #expect(service.recordsIn(app: "b") == 0)
            #expect(service.recordsIn(app: "e2e") == half)

            try producer.sendReadings(readings[half...], topic: "readings")
            try producer.finish()
            try service.waitForRecordsIn(app: "e2e", readings.count)
            try service.waitForRecordsIn(app: "b", readings.count - half)
            #expect(service.recordsIn(app: "e2e") == readings.count)

            // A removed app stops; a broken file is rejected and the running apps go on.
            try FileManager.default.moveItem(atPath: scratch.path("apps/b.yaml"), toPath: scratch.path("b.yaml"))
            try waitUntil("app b to stop; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                service.recordsIn(app: "b") == nil
            }
            try scratch.write("apps/broken.yaml", "app: broken\ninput: {topic: readings, colour: blue}\n")
            try waitUntil("the broken app file to be rejected; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(20)) {
                !service.problemsLogged.isEmpty
            }
            #expect(service.problemsLogged.allSatisfy { $0.contains("app file rejected; its previous version (if any) goes on") }, "\(service.problemsLogged)")
            #expect(service.problemsLogged.contains { $0.contains("broken.yaml:2:") }, "\(service.problemsLogged)")
            #expect(service.recordsIn(app: "e2e") == readings.count)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")

            let topics = try readTopics(
                endToEndOutputTopics + ["e2e-late", "b-five-minutes", "b-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            // The running app kept its state: its windows are batch's over every reading, each
            // revision emitted once (a restart would emit revision 0 of reopened windows again).
            try expectRunOutputs(
                topics, outputTopics: endToEndOutputTopics, lateTopic: "e2e-late", matchBatchOf: "apps/e2e.yaml",
                over: "readings.jsonl", in: scratch, exercisesLateness: false)
            // The added app saw exactly the records produced after it started.
            try expectRunOutputs(
                topics, outputTopics: ["b-five-minutes"], lateTopic: "b-late", matchBatchOf: "b.yaml",
                over: "second-half.jsonl", in: scratch, exercisesLateness: false)
            #expect(!topics["b-five-minutes", default: []].isEmpty)
        }
    }
}
