// Every result says when it was made relative to its window's close: early results (here
// `emit: {every}`) are provisional and share the revision of the result at close, which is
// on time and supersedes them; a late record makes a late revision. Read back from the
// output topic of `tidemark run` on the embedded broker.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("result timing")
    struct ResultTiming {
        static let app = """
            app: timing
            input: {topic: readings, format: json, device: device, time: ts, start: earliest}
            watermark: {per: device, out_of_order: 0s}
            series:
              - name: minute
                window: {size: 1m}
                allowed_lateness: 10m
                emit: {every: 200ms}
                aggregate: {count: count(), max: max(temperature)}
                output: timing-minute
            triggers:
              - {name: settled_hot, on: minute, when: 'timing != "early" and max > 25', output: timing-alerts}
            late: {output: timing-late}

            """

        /// One result of the output topic, parsed.
        struct Result: Equatable, CustomStringConvertible {
            var start: Int64
            var revision: Int
            var timing: String
            var count: Int
            var json: String

            init(_ json: String) throws {
                guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                    let start = (object["start"] as? NSNumber)?.int64Value, let revision = object["revision"] as? Int,
                    let timing = object["timing"] as? String, let count = object["count"] as? Int
                else { throw TestFailure(description: "not a series result with a timing: \(json)") }
                (self.start, self.revision, self.timing, self.count, self.json) = (start, revision, timing, count, json)
            }

            var description: String { "[\(start)] r\(revision) \(timing) count \(count)" }
        }

        @Test("emit every through run: early results, then the on_time result of the same window and revision with another count, then a late one; no (window, revision, timing) but early has two contents")
        func earlyResultsAreSupersededByTheResultAtClose() throws {
            let scratch = try ScratchDirectory("timing")
            defer { scratch.remove() }
            try scratch.write("apps/timing.yaml", Self.app)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            // One partition each: the results of the one device in the order they were made.
            for topic in ["readings", "timing-minute", "timing-alerts", "timing-late"] { try broker.createTopic(topic, partitions: 1) }

            // A minute ten minutes ago, so no reading is ahead of the clock.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let minute = (now / 60_000 - 10) * 60_000
            func reading(_ second: Int64, _ temperature: Double) -> String {
                #"{"device":"d1","ts":\#(minute + second * 1000),"temperature":\#(temperature)}"#
            }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            func send(_ line: String) throws {
                try producer.send(topic: "readings", key: "d1", value: line)
                try producer.finish()
            }
            func results() throws -> [Result] {
                try readTopics(["timing-minute"], partitions: 1, bootstrap: broker.bootstrapServers)["timing-minute", default: []]
                    .map { try Result($0.valueText ?? "") }
            }
            func waitForResult(_ what: String, _ matches: @escaping (Result) -> Bool) throws {
                var seen: [Result] = []
                try waitUntil("\(what); results so far: \(seen)", within: .seconds(60)) {
                    seen = try results()
                    return seen.contains(where: matches)
                }
            }

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            // Open windows are emitted early every 200 ms of processing time while they change.
            try send(reading(1, 20))
            try waitForResult("an early result of one reading") { $0.start == minute && $0.timing == "early" && $0.count == 1 }
            try send(reading(2, 30))
            try waitForResult("an early result of two readings") { $0.start == minute && $0.timing == "early" && $0.count == 2 }
            try send(reading(3, 22))
            // The next minute's reading moves the watermark past the first minute's end: it
            // closes, on time, at the revision its early results carried.
            try send(reading(61, 21))
            try waitForResult("the first minute on time") { $0.start == minute && $0.timing == "on_time" }
            // Within the lateness: a late revision.
            try send(reading(4, 26))
            try waitForResult("a late revision of the first minute") { $0.start == minute && $0.timing == "late" }
            try service.waitForRecordsIn(app: "timing", 5)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)")

            let all = try results()
            let first = all.filter { $0.start == minute }
            let early = first.filter { $0.timing == "early" }
            // Early results: provisional, at revision 0 like the result at close, with one
            // reading, then two (a period may also see three before the close).
            #expect(early.map(\.count).starts(with: [1, 2]), "\(first)")
            #expect(early.allSatisfy { $0.revision == 0 }, "\(first)")
            // Then exactly one on-time result, revision 0 with all three readings: the same
            // revision as an early result with another content, told apart by its timing.
            let settled = first.filter { $0.timing != "early" }
            #expect(settled.map(\.description) == ["[\(minute)] r0 on_time count 3", "[\(minute)] r1 late count 4"])
            #expect(early.contains { $0.revision == settled.first?.revision && $0.count != settled.first?.count })
            // No early result after the close.
            if let close = first.firstIndex(where: { $0.timing == "on_time" }) {
                #expect(!first[close...].contains { $0.timing == "early" }, "\(first)")
            }
            // One (window, revision, timing) that is not early, one content.
            var contents: [String: String] = [:]
            for result in all where result.timing != "early" {
                let key = "\(result.start) \(result.revision) \(result.timing)"
                #expect(contents[key].map { $0 == result.json } ?? true, "\(key): \(contents[key] ?? "") and \(result.json)")
                contents[key] = result.json
            }
            #expect(
                settled.first?.json
                    == #"{"app":"timing","series":"minute","device":"d1","start":\#(minute),"end":\#(minute + 60_000),"revision":0,"timing":"on_time","count":3,"max":30}"#)

            // The trigger reads the timing: it fires on the settled results only, though an
            // early one was as hot.
            let alerts = try readTopics(["timing-alerts"], partitions: 1, bootstrap: broker.bootstrapServers)["timing-alerts", default: []]
            let alerted = try alerts.map { message -> String in
                let object = try JSONSerialization.jsonObject(with: Data((message.valueText ?? "").utf8)) as? [String: Any]
                let value = object?["value"] as? [String: Any]
                return "\(value?["start"] ?? "") r\(value?["revision"] ?? "") \(value?["timing"] ?? "")"
            }
            #expect(alerted == ["\(minute) r0 on_time", "\(minute) r1 late"])
        }
    }
}
