// An app added with `input.start: earliest` while another app reads the same topic: it reads
// the topic's past through a catch-up reader of its own, then takes the shared stream over,
// with no record missed or taken twice, and the running app never sees the past again.
import EmbeddedKafka
import Foundation
import Testing
import Tidemark

extension TidemarkCommandLine {
    @Suite("apps that start in the past")
    struct StartInThePast {
        /// The end-to-end app under another name, with outputs of its own, from the earliest record.
        static let pastApp = endToEndApp
            .replacingOccurrences(of: "app: e2e", with: "app: past")
            .replacingOccurrences(of: "e2e-", with: "past-")
            .replacingOccurrences(of: "time: ts}", with: "time: ts, start: earliest}")
        static let pastOutputTopics = endToEndOutputTopics.map { $0.replacingOccurrences(of: "e2e-", with: "past-") }

        @Test("an app added with start: earliest catches up and goes on live without a gap or a repeat; the other app is unaffected")
        func addedAppCatchesUp() throws {
            let half = 10_000
            let fixture = try EndToEndFixture("start-earliest", sent: half, extraTopics: Self.pastOutputTopics + ["past-late"])
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)
            try scratch.write("past.yaml", Self.pastApp)
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", half)
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)

            // The new app reads the first half from the past while the second half arrives live.
            try createChangelogs(on: broker, apps: scratch.path("past.yaml"), group: "g")
            try FileManager.default.copyItem(atPath: scratch.path("past.yaml"), toPath: scratch.path("apps/.past.yaml"))
            try FileManager.default.moveItem(atPath: scratch.path("apps/.past.yaml"), toPath: scratch.path("apps/past.yaml"))
            // In pieces over a few seconds, so that the hand-over meets records arriving.
            for piece in stride(from: half, to: readings.count, by: 500) {
                try producer.sendReadings(readings[piece..<min(piece + 500, readings.count)], topic: "readings")
                try producer.finish()
                Thread.sleep(forTimeInterval: 0.1)
            }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            try service.waitForRecordsIn(app: "past", readings.count)
            try waitUntil("every partition to be caught up", within: .seconds(30)) {
                service.sample("tidemark_catching_up_partitions").flatMap(Double.init) == 0
            }
            // Every record once: a repeat would count twice.
            #expect(service.recordsIn(app: "past") == readings.count)
            #expect(service.recordsIn(app: "e2e") == readings.count)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged.prefix(5))")
            let log = service.tool.stderr.text
            #expect(log.contains("catching up"), "the past was not read by the catch-up reader: \(log.suffix(3000))")
            #expect(log.contains("caught up"))
            let offsets = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers)
            #expect(offsets.committed == offsets.ends)

            let topics = try readTopics(
                endToEndOutputTopics + ["e2e-late"] + Self.pastOutputTopics + ["past-late"], partitions: 4,
                bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch)
            try expectRunOutputs(
                topics, outputTopics: Self.pastOutputTopics, lateTopic: "past-late", matchBatchOf: "past.yaml",
                over: "readings.jsonl", in: scratch)
        }

        @Test("killed while an app catches up: the restart resumes the catch-up from the app's changelog, and every window equals batch's")
        func killedWhileCatchingUp() throws {
            // Enough of a past that the catch-up takes a second or so.
            let fixture = try EndToEndFixture("start-earliest-killed", count: 100_000, extraTopics: Self.pastOutputTopics + ["past-late"])
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)
            try scratch.write("past.yaml", Self.pastApp)
            try createChangelogs(on: broker, apps: scratch.path("apps"), group: "g")
            try createChangelogs(on: broker, apps: scratch.path("past.yaml"), group: "g")

            let checkpoints = ["--checkpoint-interval", "0.1"]
            let first = try RunningService(
                brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g", extra: Crashes.quickSession + checkpoints)
            defer { first.tool.kill() }
            try first.waitForRecordsIn(app: "e2e", readings.count)
            try FileManager.default.copyItem(atPath: scratch.path("past.yaml"), toPath: scratch.path("apps/.past.yaml"))
            try FileManager.default.moveItem(atPath: scratch.path("apps/.past.yaml"), toPath: scratch.path("apps/past.yaml"))
            // Killed once a checkpoint holds some of the catch-up's progress, while it goes on:
            // a fixed delay can come before the first checkpoint on a loaded machine.
            try waitUntil("a checkpoint of the catch-up's progress", within: .seconds(60)) {
                try Self.changelogPositions(of: "g-past-changelog", bootstrap: broker.bootstrapServers).values.contains { $0 > 0 }
            }
            first.tool.kill()
            let stood = try Self.changelogPositions(of: "g-past-changelog", bootstrap: broker.bootstrapServers)

            let second = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g", extra: Crashes.quickSession)
            defer { second.tool.kill() }
            // The group's offsets are the other app's: the lag of every partition (its states'
            // furthest-back position) says when the catching-up app is through.
            try waitUntil("every partition caught up and read to its end", within: .seconds(120)) {
                (0..<4).allSatisfy { second.sample(#"tidemark_consumer_lag_records{topic="readings",partition="\#($0)"}"#) == "0.0" }
                    && second.sample("tidemark_catching_up_partitions").flatMap(Double.init) == 0
            }
            #expect(try second.stop() == 0, "\(second.tool.stderr.text.suffix(2000))")
            // The restart reads on from where the app's changelog stood, not from the beginning
            // (a partition the catch-up had finished before the kill is not caught up again).
            let resumed = Self.catchUpStarts(in: second.tool.stderr.lines, topic: "readings")
            for (partition, from) in resumed {
                #expect(from == stood[partition] ?? 0, "partition \(partition) caught up from \(from), its changelog stood at \(stood)")
            }

            let topics = try readTopics(
                endToEndOutputTopics + ["e2e-late"] + Self.pastOutputTopics + ["past-late"], partitions: 4,
                bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
            try expectRunOutputs(
                topics, outputTopics: Self.pastOutputTopics, lateTopic: "past-late", matchBatchOf: "past.yaml",
                over: "readings.jsonl", in: scratch, restarted: true)
        }

        /// Per input partition, the position of the newest partition record in `changelog`:
        /// where a restore of that partition starts.
        static func changelogPositions(of changelog: String, bootstrap: String) throws -> [Int32: Int64] {
            var positions: [Int32: Int64] = [:]
            var state: [UInt8] = []
            for message in try readTopics([changelog], partitions: 4, bootstrap: bootstrap)[changelog] ?? []
            where message.key == ChangelogKey.partitionKey {
                guard let value = message.value else { continue }
                positions[message.partition] = try value.withUnsafeBytes { try ChangelogValue.read($0, state: &state).position }
            }
            return positions
        }

        /// Per partition of `topic`, the offset of the "catching up" line in `log`.
        static func catchUpStarts(in log: [String], topic: String) -> [Int32: Int64] {
            var starts: [Int32: Int64] = [:]
            for line in log where line.hasSuffix("catching up") {
                let fields = line.split(separator: " ")
                guard let from = fields.first(where: { $0.hasPrefix("from=") }).flatMap({ Int64($0.dropFirst(5)) }),
                    let partition = fields.first(where: { $0.hasPrefix("partition=\(topic)/") })
                        .flatMap({ Int32($0.dropFirst("partition=\(topic)/".count)) })
                else { continue }
                starts[partition] = from
            }
            return starts
        }
    }
}
