// Nested JSON through the command line: field paths, backquoted keys, booleans and the
// epoch-time rule in `batch` (every line known in advance), in `run` on the embedded broker
// (equal to batch), and `validate` naming file:line:column of each bad path.
import EmbeddedKafka
import Foundation
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("field paths, booleans and epoch units through the command line")
    struct FieldPaths {
        static let app = """
            app: nested
            input: {topic: readings, device: meta.id, time: payload.ts}
            watermark: {per: device, out_of_order: 5s}
            series:
              - name: minute
                window: {size: 1m}
                aggregate: {mean: mean(payload.temperature), doors: sum(payload.`door.open`), count: count()}
                output: minute
            triggers:
              - name: opened
                when: payload.`door.open` == true and `and` > 1
                output: alerts
            late: {output: late}

            """

        /// Minute windows from t0 = 2026-11-28T20:00:00Z (1795824000000).
        static let readings = """
            {"meta":{"id":"a","fw":"1"},"payload":{"ts":1795824010000,"temperature":20.0,"door.open":false},"and":5}
            {"meta":{"id":"a"},"payload":{"ts":1795824020000,"temperature":24.0,"door.open":true},"and":2}
            {"meta":{"id":"a"},"payload":{"ts":1795824070000,"temperature":26.0,"door.open":true}}
            {"meta":"a","payload":{"ts":1795824071000}}
            {"meta":{"id":"a"},"payload":{"ts":-1000}}
            {"meta":{"id":"b"},"meta":{"id":"c"},"payload":{"ts":1795824005000,"temperature":30.5,"door.open":1},"and":3}
            {"meta":{"id":"a"},"payload":{"ts":1795824080000,"temperature":"hot"}}
            {"meta.id":"a","payload.ts":1795824090000}

            """

        @Test("given nested readings, batch reads device, time and fields through their paths")
        func batchReadsNestedReadings() throws {
            let scratch = try ScratchDirectory("paths-batch")
            defer { scratch.remove() }
            try scratch.write("nested.yaml", Self.app)
            try scratch.write("readings.jsonl", Self.readings)
            let batch = try runTool(
                ["batch", "--app", "nested.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(batch.status == 0, "\(batch.stderr)")
            #expect(try scratch.lines("out.jsonl") == [
                // Line 2: the door opened (true is 1) and the field named "and" is over 1. The
                // event's value holds the top-level members, meta and payload whole.
                #"{"app":"nested","trigger":"opened","device":"a","time":1795824020000,"value":{"meta":{"id":"a"},"payload":{"ts":1795824020000,"temperature":24.0,"door.open":true},"and":2}}"#,
                // Line 3 moves a's watermark to t0+65s: a's first minute closes; booleans sum as 1 and 0.
                #"{"app":"nested","series":"minute","device":"a","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","mean":22,"doors":1,"count":2}"#,
                // Line 6: the last "meta" wins, so the device is c (and the value has that one
                // only); its door is 1, which is true.
                #"{"app":"nested","trigger":"opened","device":"c","time":1795824005000,"value":{"meta":{"id":"c"},"payload":{"ts":1795824005000,"temperature":30.5,"door.open":1},"and":3}}"#,
                #"{"app":"nested","series":"minute","device":"a","start":1795824060000,"end":1795824120000,"revision":0,"timing":"on_time","mean":26,"doors":1,"count":1}"#,
                #"{"app":"nested","series":"minute","device":"c","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","mean":30.5,"doors":1,"count":1}"#,
            ])
            #expect(try scratch.lines("late.jsonl").map(BatchLateLine.init) == [
                // meta is no object: the path meta.id is missing.
                BatchLateLine(line: 4, reason: "malformed", error: "missing device id", value: #"{"meta":"a","payload":{"ts":1795824071000}}"#),
                BatchLateLine(
                    line: 5, reason: "malformed", error: "negative epoch time: set input.time_unit to say its unit",
                    value: #"{"meta":{"id":"a"},"payload":{"ts":-1000}}"#),
                BatchLateLine(
                    line: 7, reason: "malformed", error: "an aggregated field is not a number",
                    value: #"{"meta":{"id":"a"},"payload":{"ts":1795824080000,"temperature":"hot"}}"#),
                // Keys with dots are not paths.
                BatchLateLine(line: 8, reason: "malformed", error: "missing device id", value: #"{"meta.id":"a","payload.ts":1795824090000}"#),
            ])
        }

        @Test("with input.time_unit, a number is read in that unit exactly, negative ones included")
        func batchReadsEpochNumbersInTheirUnit() throws {
            let scratch = try ScratchDirectory("paths-epoch")
            defer { scratch.remove() }
            try scratch.write("readings.jsonl", """
                {"`id`":"a","t":-90000,"v":1}
                {"`id`":"a","t":-30000.5,"v":2}
                {"`id`":"a","t":10000,"v":3}

                """)
            func batch(unit: String) throws -> [String] {
                try scratch.write("epoch.yaml", """
                    app: epoch
                    input: {topic: readings, device: "```id```", time: t, time_unit: \(unit)}
                    watermark: {per: device, out_of_order: 1s}
                    series:
                      - {name: minute, window: {size: 1m}, aggregate: {sum: sum(v)}, output: minute}

                    """)
                let batch = try runTool(
                    ["batch", "--app", "epoch.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                    in: scratch.url)
                #expect(batch.status == 0, "\(batch.stderr)")
                #expect(try scratch.lines("late.jsonl").isEmpty)
                return try scratch.lines("out.jsonl")
            }
            // -30000.5 ms rounds down, toward the past: still in [-60 s, 0).
            #expect(try batch(unit: "milliseconds") == [
                #"{"app":"epoch","series":"minute","device":"a","start":-120000,"end":-60000,"revision":0,"timing":"on_time","sum":1}"#,
                #"{"app":"epoch","series":"minute","device":"a","start":-60000,"end":0,"revision":0,"timing":"on_time","sum":2}"#,
                #"{"app":"epoch","series":"minute","device":"a","start":0,"end":60000,"revision":0,"timing":"on_time","sum":3}"#,
            ])
            // The same numbers in seconds: -25 h, -8.3 h and +2.8 h around the epoch.
            #expect(try batch(unit: "seconds") == [
                #"{"app":"epoch","series":"minute","device":"a","start":-90000000,"end":-89940000,"revision":0,"timing":"on_time","sum":1}"#,
                #"{"app":"epoch","series":"minute","device":"a","start":-30060000,"end":-30000000,"revision":0,"timing":"on_time","sum":2}"#,
                #"{"app":"epoch","series":"minute","device":"a","start":9960000,"end":10020000,"revision":0,"timing":"on_time","sum":3}"#,
            ])
        }

        @Test("validate names file, line and column of a bad path, backquote or time_unit")
        func validateRefusesBadPaths() throws {
            let scratch = try ScratchDirectory("paths-validate")
            defer { scratch.remove() }
            try scratch.write("apps/bad.yaml", """
                app: bad
                input: {topic: readings, device: "`meta.id", time: payload.ts, time_unit: hours}
                series:
                  - name: minute
                    window: {size: 1m}
                    aggregate: {a: mean(payload.`x), b: max( x y ), c: min(and), d: sum(a.``)}
                    output: minute
                triggers:
                  - {name: t, when: "payload.x > 1 or `and > 1", output: alerts}
                  - {name: u, when: "ok == true and not > 1", output: alerts}

                """)
            let validate = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(validate.status == 1)
            #expect(validate.stderr == """
                apps/bad.yaml:2:35: error: unterminated backquote in a field name
                apps/bad.yaml:2:75: error: unknown time_unit 'hours'; expected seconds, milliseconds or microseconds
                apps/bad.yaml:6:33: error: unterminated backquote in a field name
                apps/bad.yaml:6:47: error: unexpected character ' ' in field name 'x y'; write a key that is not an identifier in backquotes, e.g. `x y`
                apps/bad.yaml:6:60: error: 'and' is a word of trigger expressions; write the field named so as `and`
                apps/bad.yaml:6:75: error: empty key `` in a field name
                apps/bad.yaml:9:39: error: unterminated backquote in a field name
                apps/bad.yaml:10:41: error: expected an operand after 'not', found '>'

                """)
        }
    }
}

extension TidemarkCommandLine.RunEndToEnd {
    /// The end-to-end readings nested: `{"meta":{"id":…},"reading":{"ts":…,"temperature":…,"ok":…}}`,
    /// `ok` a boolean (the temperature is plausible).
    static let nestedApp = """
        app: nested
        input: {topic: readings, format: json, device: meta.id, time: reading.ts}
        watermark: {per: device, out_of_order: 10s}
        series:
          - name: minute
            window: {size: 1m}
            allowed_lateness: 2m
            aggregate: {mean: mean(reading.temperature), max: max(reading.temperature), ok: sum(reading.ok), count: count()}
            output: nested-minute
        triggers:
          - {name: faulty_sensor, when: reading.ok == false, output: nested-alerts}
          - {name: hot_minute, on: minute, when: max > 60, output: nested-alerts}
        late: {output: nested-late}

        """

    @Test("nested readings through run give batch's results, events and late records")
    func nestedReadingsRunEqualsBatch() throws {
        let scratch = try ScratchDirectory("paths-run")
        defer { scratch.remove() }
        let flat = try simulateReadings(into: scratch)
        var latest: [String: Int64] = [:]
        var nested: [String] = []
        var devices: [String] = []
        for line in flat {
            let match = try #require(line.wholeMatch(of: /\{"device":"([^"]*)","ts":(\d+),(.*)\}/), "\(line)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let ok = (object["temperature"] as? Double).map { -20 <= $0 && $0 <= 60 }
            let device = String(match.1)
            nested.append(#"{"meta":{"id":"\#(device)"},"reading":{"ts":\#(match.2),\#(match.3)\#(ok.map { ",\"ok\":\($0)" } ?? "")}}"#)
            devices.append(device)
            latest[device] = max(latest[device] ?? .min, Int64(match.2)!)
        }
        #expect(nested.contains { $0.contains(#""ok":false"#) }, "no faulty reading to fire on")
        try scratch.write("nested.jsonl", nested.joined(separator: "\n") + "\n")
        try scratch.write("apps/nested.yaml", Self.nestedApp)

        let broker = try EmbeddedKafkaBroker(brokers: 1)
        defer { broker.stop() }
        for topic in ["readings", "nested-minute", "nested-alerts", "nested-late"] { try broker.createTopic(topic, partitions: 4) }
        let producer = try TestProducer(bootstrap: broker.bootstrapServers)
        for (device, line) in zip(devices, nested) { try producer.send(topic: "readings", key: device, value: line) }
        try producer.finish()

        let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
        defer { service.tool.kill() }
        try service.waitForRecordsIn(app: "nested", nested.count)
        #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)")
        let topics = try readTopics(["nested-minute", "nested-alerts", "nested-late"], partitions: 4, bootstrap: broker.bootstrapServers)

        let (batch, batchLate) = try batchReference(app: "apps/nested.yaml", input: "nested.jsonl", in: scratch)
        let run = try Outputs((topics["nested-minute", default: []] + topics["nested-alerts", default: []]).compactMap(\.valueText))
        let closed = Set(batch.ends.filter { window, end in end <= latest[window.device, default: .min] - 10_000 }.keys)
        #expect(!run.recordTriggerEvents.isEmpty && run.revisions.values.contains { $0.contains { $0.revision > 0 } })
        expectRunMatchesBatch(run: run, batch: batch, closed: closed)
        let runLate = topics["nested-late", default: []].compactMap(\.valueText)
        #expect(!batchLate.isEmpty && batchLate.allSatisfy { $0.reason == "too-late" })
        #expect(runLate.sorted() == batchLate.map(\.value).sorted())

        // And the paths read what the flat fields hold: the same windows as the flat readings.
        try scratch.write("flat.jsonl", flat.joined(separator: "\n") + "\n")
        try scratch.write("flat.yaml", Self.nestedApp
            .replacing("device: meta.id, time: reading.ts", with: "device: device, time: ts")
            .replacing("reading.temperature", with: "temperature").replacing(" ok: sum(reading.ok),", with: ""))
        let (flatBatch, _) = try batchReference(app: "flat.yaml", input: "flat.jsonl", in: scratch)
        #expect(
            batch.revisions.mapValues { $0.map { $0.json.replacing(/"ok":[^,]*,/, with: "") } }
                == flatBatch.revisions.mapValues { $0.map(\.json) })
    }
}
