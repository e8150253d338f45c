// `tidemark replay` over the embedded broker: the records of the input topic, read again from
// the earliest offset, give batch's results, to files or to the app's output topics.
import EmbeddedKafka
import Foundation
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("tidemark replay")
    struct Replay {
        @Test("replay --from earliest --output writes batch's results, and late records with their partition and offset")
        func replayToFiles() throws {
            let fixture = try EndToEndFixture("replay-files")
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)

            let replay = try runTool([
                "replay", "--brokers", broker.bootstrapServers, "--app", scratch.path("apps/e2e.yaml"), "--from", "earliest",
                "--output", scratch.path("replay.jsonl"), "--late", scratch.path("replay-late.jsonl"),
            ])
            try #require(replay.status == 0, "replay failed: \(replay.stderr)")
            #expect(replay.stderr.contains("\(readings.count) records from 4 partitions:"), "\(replay.stderr)")

            let (batch, batchLate) = try batchReference(app: "apps/e2e.yaml", input: "readings.jsonl", in: scratch)
            let replayed = try Outputs(scratch.lines("replay.jsonl"))
            #expect(replayed.revisions.values.contains { $0.contains { $0.revision > 0 } }, "no window was revised by late data")
            expectRunMatchesBatch(run: replayed, batch: batch, closed: Set(batch.ends.keys))

            // Each late record names where it was read: the message there is the record.
            let late = try scratch.lines("replay-late.jsonl").map(ReplayLateLine.init)
            #expect(!late.isEmpty)
            #expect(late.map(\.value).sorted() == batchLate.map(\.value).sorted())
            #expect(late.allSatisfy { $0.reason == "too-late" })
            let input = try readTopics(["readings"], partitions: 4, bootstrap: broker.bootstrapServers)["readings", default: []]
            let byPosition = Dictionary(uniqueKeysWithValues: input.map { ("\($0.partition)@\($0.offset)", $0.valueText) })
            let misplaced = late.filter { byPosition["\($0.partition)@\($0.offset)"] != $0.value }
            #expect(misplaced.isEmpty, "late records not at the partition and offset they name: \(misplaced.prefix(3))")
        }

        @Test("replay --from earliest --produce sends batch's results to the app's topics, keyed and placed as run does")
        func replayToTopics() throws {
            let fixture = try EndToEndFixture("replay-topics")
            defer { fixture.tearDown() }
            let (scratch, broker) = (fixture.scratch, fixture.broker)

            let replay = try runTool([
                "replay", "--brokers", broker.bootstrapServers, "--app", scratch.path("apps/e2e.yaml"), "--from", "earliest",
                "--produce",
            ])
            try #require(replay.status == 0, "replay failed: \(replay.stderr)")
            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectRunOutputs(
                topics, outputTopics: endToEndOutputTopics, lateTopic: "e2e-late", matchBatchOf: "apps/e2e.yaml",
                over: "readings.jsonl", in: scratch, closesEverything: true)
        }

        @Test("replay names what is wrong with its arguments")
        func replayArgumentErrors() throws {
            let app = ["replay", "--brokers", "127.0.0.1:1", "--app", "app.yaml"]
            for (arguments, message) in [
                (["--from", "earliest"], "give either --output FILE or --produce"),
                (["--from", "earliest", "--output", "a.jsonl", "--produce"], "give either --output FILE or --produce"),
                (["--from", "yesterday", "--produce"], "--from: expected earliest, now, now-3h (relative)"),
                (["--from", "earliest", "--to", "soon", "--produce"], "--to: expected now, now-3h (relative)"),
                (["--from", "earliest", "--produce", "--late", "l.jsonl"], "--late goes with --output"),
            ] {
                let result = try runTool(app + arguments)
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            }
        }
    }
}

/// A line of `tidemark replay --late`.
private struct ReplayLateLine: Decodable {
    var partition: Int32
    var offset: Int64
    var reason: String
    var value: String

    init(_ json: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(json.utf8))
    }
}
