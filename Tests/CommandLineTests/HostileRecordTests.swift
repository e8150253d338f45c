// Readings that poisoned a device or corrupted results: a clock years ahead, numbers past
// the range of a double, sums that overflow, repeated keys. Through `batch` and through `run`
// on the embedded broker, with every output line and late header known in advance.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("hostile records")
    struct HostileRecords {
        static let app = """
            app: clocks
            input: {topic: readings, format: json, device: device, time: ts}
            watermark: {per: device, out_of_order: 5s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {sum: sum(temperature), mean: mean(temperature), max: max(temperature), sd: stddev(temperature), count: count()}
                output: minute
            triggers:
              - {name: hot, when: temperature > 90, output: alerts}
            late: {output: late}

            """

        /// From t0 = 2026-11-28T20:00:00Z (1795824000000); 4102444800000 is 2100-01-01.
        static let readings = [
            #"{"device":"a","ts":1795824010000,"temperature":20}"#,
            // A clock reset to the far future: it must not make a's next readings too late.
            #"{"device":"a","ts":4102444800000,"temperature":21}"#,
            #"{"device":"a","ts":1795824020000,"temperature":22}"#,
            #"{"device":"a","ts":1795824030000,"temperature":1e999}"#,
            #"{"device":"b","ts":1795824010000,"temperature":1e308}"#,
            #"{"device":"b","ts":1795824020000,"temperature":1e308}"#,
            #"{"device":"c","ts":1795824010000,"temperature":1,"humidity":40,"temperature":99}"#,
        ]

        static let future = "event time is more than 1d ahead of the processing clock (watermark.max_future)"

        /// The results both `batch` and `run` give for a, b and c's first minute.
        static let minuteResults = [
            #"{"app":"clocks","series":"minute","device":"a","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","sum":42,"mean":21,"max":22,"sd":1.4142135623730951,"count":2}"#,
            // Two readings of 1e308 sum past the largest double: said, not a silent null.
            #"{"app":"clocks","series":"minute","device":"b","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","sum":null,"mean":null,"max":1e+308,"sd":null,"count":2,"overflow":["sum","mean","sd"]}"#,
            // Of two temperatures in one reading, the last counts.
            #"{"app":"clocks","series":"minute","device":"c","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","sum":99,"mean":99,"max":99,"sd":null,"count":1}"#,
        ]

        static let alerts = [
            #"{"app":"clocks","trigger":"hot","device":"b","time":1795824010000,"value":{"temperature":1e308}}"#,
            #"{"app":"clocks","trigger":"hot","device":"b","time":1795824020000,"value":{"temperature":1e308}}"#,
            // The echoed reading has each key once, with its last value.
            #"{"app":"clocks","trigger":"hot","device":"c","time":1795824010000,"value":{"humidity":40,"temperature":99}}"#,
        ]

        @Test("batch sends a reading from the future and a number out of range to the late file, and says which sums overflowed")
        func batchOfHostileReadings() throws {
            let scratch = try ScratchDirectory("hostile-records")
            defer { scratch.remove() }
            try scratch.write("clocks.yaml", Self.app)
            try scratch.write("readings.jsonl", Self.readings.joined(separator: "\n") + "\n")
            let batch = try runTool(
                ["batch", "--app", "clocks.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(batch.status == 0)
            #expect(try scratch.lines("out.jsonl") == Self.alerts + Self.minuteResults)
            #expect(try scratch.lines("late.jsonl") == [
                #"{"line":2,"reason":"future","error":"\#(Self.future)","value":"{\"device\":\"a\",\"ts\":4102444800000,\"temperature\":21}"}"#,
                #"{"line":4,"reason":"malformed","error":"number out of range","value":"{\"device\":\"a\",\"ts\":1795824030000,\"temperature\":1e999}"}"#,
            ])
            let stderr = batch.stderr.split(separator: "\n").map(String.init)
            #expect(stderr.count == 3)
            #expect(stderr.prefix(2) == ["readings.jsonl:2: future: \(Self.future)", "readings.jsonl:4: malformed: number out of range"])
            #expect(stderr.last?.wholeMatch(of: /7 lines: 3 results, 3 trigger events, 0 too late, 1 malformed, 1 from the future \(\d+\.\d\d s, \d+ lines\/s\)/) != nil, "\(stderr)")

            // Without the limit, the reading from 2100 moves a's watermark: a's next reading is too late.
            try scratch.write("unlimited.yaml", Self.app.replacingOccurrences(of: "out_of_order: 5s}", with: "out_of_order: 5s, max_future: off}"))
            let unlimited = try runTool(
                ["batch", "--app", "unlimited.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(unlimited.status == 0)
            #expect(try scratch.lines("late.jsonl").first == #"{"line":3,"reason":"too-late","value":"{\"device\":\"a\",\"ts\":1795824020000,\"temperature\":22}"}"#)
        }

        @Test("run routes a reading from the future and a number out of range to the late topic with their headers, and the device goes on")
        func runOfHostileReadings() throws {
            let scratch = try ScratchDirectory("hostile-run")
            defer { scratch.remove() }
            try scratch.write("apps/clocks.yaml", Self.app)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            // One partition each, so each topic keeps the order records were produced in.
            for topic in ["readings", "minute", "alerts", "late"] { try broker.createTopic(topic, partitions: 1) }

            // A reading a minute later per device closes its first minute.
            let closing = ["a", "b", "c"].map { #"{"device":"\#($0)","ts":1795824070000,"temperature":0}"# }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            // Keyed by device by hand: a parser for the key would choke on 1e999.
            let devices = ["a", "a", "a", "a", "b", "b", "c", "a", "b", "c"]
            for (device, reading) in zip(devices, Self.readings + closing) {
                try producer.send(topic: "readings", key: device, value: reading)
            }
            try producer.finish()

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "clocks", Self.readings.count + closing.count)
            let metrics = httpGet(port: service.metricsPort, path: "/metrics")?.body ?? ""
            #expect(metric(#"tidemark_malformed_records_total{app="clocks"}"#, in: metrics) == 1)
            #expect(metric(#"tidemark_late_records_total{app="clocks"}"#, in: metrics) == 0)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)")

            let topics = try readTopics(["minute", "alerts", "late"], partitions: 1, bootstrap: broker.bootstrapServers)
            #expect(topics["minute", default: []].map(\.valueText) == Self.minuteResults)
            #expect(topics["alerts", default: []].map(\.valueText) == Self.alerts)
            let late = topics["late", default: []]
            #expect(late.map(\.keyText) == ["a", "a"])
            #expect(late.map(\.valueText) == [Self.readings[1], Self.readings[3]])
            #expect(late.map(\.headers) == [
                ["tidemark-reason": "future", "tidemark-error": Self.future],
                ["tidemark-reason": "malformed", "tidemark-error": "number out of range"],
            ])
        }

        @Test("a valid reading of 1.1 MiB goes to the late topic unchanged as record too large, counted once, and the next reading is processed")
        func oversizedReadingReachesTheLateTopic() throws {
            let scratch = try ScratchDirectory("hostile-oversized")
            defer { scratch.remove() }
            try scratch.write("apps/clocks.yaml", Self.app)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings", "minute", "alerts", "late"] { try broker.createTopic(topic, partitions: 1) }

            let padding = String(repeating: "x", count: 1_153_434)
            let oversized = #"{"device":"a","ts":1795824010000,"temperature":20,"note":"\#(padding)"}"#
            let following = [
                #"{"device":"a","ts":1795824020000,"temperature":22}"#, #"{"device":"a","ts":1795824070000,"temperature":0}"#,
            ]
            let producer = try TestProducer(bootstrap: broker.bootstrapServers, ["message.max.bytes": "2000000"])
            for reading in [oversized] + following { try producer.send(topic: "readings", key: "a", value: reading) }
            try producer.finish()

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "clocks", 3)
            let metrics = httpGet(port: service.metricsPort, path: "/metrics")?.body ?? ""
            #expect(metric(#"tidemark_malformed_records_total{app="clocks"}"#, in: metrics) == 1)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)")
            let (committed, ends) = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 1, bootstrap: broker.bootstrapServers)
            #expect(committed == ends)

            let topics = try readTopics(["minute", "late"], partitions: 1, bootstrap: broker.bootstrapServers)
            let late = topics["late", default: []]
            #expect(late.count == 1)
            #expect(late.first?.valueText == oversized)
            #expect(late.first?.headers == ["tidemark-reason": "malformed", "tidemark-error": "record too large"])
            #expect(topics["minute", default: []].map(\.valueText) == [
                #"{"app":"clocks","series":"minute","device":"a","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","sum":22,"mean":22,"max":22,"sd":null,"count":1}"#
            ])
        }

        @Test("the watermark lag is NaN before any reading; with max_future off, a reading dated 2100 moves the watermark ahead of the clock, and the lag reads 0, never negative")
        func watermarkLagIsNeverNegative() throws {
            let scratch = try ScratchDirectory("hostile-lag")
            defer { scratch.remove() }
            try scratch.write("apps/clocks.yaml", Self.app.replacingOccurrences(
                of: "out_of_order: 5s}", with: "out_of_order: 5s, max_future: off}"))
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings", "minute", "alerts", "late"] { try broker.createTopic(topic, partitions: 1) }
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            // Before any reading the app has no watermark: its lag is unknown, not 0.
            let lag = #"tidemark_watermark_lag_milliseconds{app="clocks"}"#
            try waitUntil("the watermark lag; /metrics: \(service.sample(lag) ?? "nil")", within: .seconds(30)) { service.sample(lag) != nil }
            #expect(service.sample(lag) == "nan")

            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.send(topic: "readings", key: "a", value: Self.readings[1])
            try producer.finish()
            try service.waitForRecordsIn(app: "clocks", 1)
            try waitUntil("a watermark lag; /metrics: \(service.sample(lag) ?? "nil")", within: .seconds(30)) { service.sample(lag) != "nan" }
            #expect(service.sample(lag) == "0.0")
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        }
    }
}
