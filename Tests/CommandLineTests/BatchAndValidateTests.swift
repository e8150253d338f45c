// `tidemark batch` over a hand-made file, with every output line known in advance, and
// `tidemark validate` naming file, line and column of each mistake.
import Foundation
import Testing

extension TidemarkCommandLine {
    @Suite("tidemark batch and validate")
    struct BatchAndValidate {
        static let app = """
            app: tiny
            input: {topic: readings, format: json, device: device, time: ts}
            watermark: {per: device, out_of_order: 5s}
            series:
              - name: minute
                window: {size: 1m}
                allowed_lateness: 1m
                aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                output: minute
            triggers:
              - {name: too_hot, when: temperature > 30, output: alerts}
              - {name: warm_minute, on: minute, when: mean > 25, output: alerts}
            late: {output: late}

            """

        /// Minute windows from t0 = 2026-11-28T20:00:00Z (1795824000000).
        static let readings = """
            {"device":"a","ts":1795824010000,"temperature":20.0}
            {"device":"a","ts":1795824050000,"temperature":24.0}
            {"device":"b","ts":1795824005000,"temperature":31.0}
            {"device":"a","ts":1795824070000,"temperature":26.0}
            this is not json
            {"device":"a","ts":1795824030000,"temperature":28.0}
            {"device":"a","ts":1795824190000,"temperature":27.0}
            {"device":"a","ts":1795824040000,"temperature":10.0}
            {"device":"b","ts":1795824020000,"temperature":32.0}

            """

        @Test("given readings with a late and a too-late one and a malformed line, batch writes these results, events and late lines")
        func batchOfAHandMadeFile() throws {
            let scratch = try ScratchDirectory("batch")
            defer { scratch.remove() }
            try scratch.write("tiny.yaml", Self.app)
            try scratch.write("readings.jsonl", Self.readings)
            let batch = try runTool(
                ["batch", "--app", "tiny.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(batch.status == 0)
            #expect(try scratch.lines("out.jsonl") == [
                // Line 3: b is hot.
                #"{"app":"tiny","trigger":"too_hot","device":"b","time":1795824005000,"value":{"temperature":31.0}}"#,
                // Line 4 moves a's watermark to t0+65s: a's first minute closes.
                #"{"app":"tiny","series":"minute","device":"a","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","mean":22,"max":24,"count":2}"#,
                // Line 6 is late but within allowed_lateness: the minute is revised, and the
                // revision waits for the end of the batch (4096 lines, or the input's end).
                // Line 7 moves the watermark to t0+185s: a's second minute closes, and is warm.
                #"{"app":"tiny","series":"minute","device":"a","start":1795824060000,"end":1795824120000,"revision":0,"timing":"on_time","mean":26,"max":26,"count":1}"#,
                #"{"app":"tiny","trigger":"warm_minute","device":"a","time":1795824060000,"value":{"app":"tiny","series":"minute","device":"a","start":1795824060000,"end":1795824120000,"revision":0,"timing":"on_time","mean":26,"max":26,"count":1}}"#,
                // ... and puts the first minute past its lateness: its revision is emitted before it goes.
                #"{"app":"tiny","series":"minute","device":"a","start":1795824000000,"end":1795824060000,"revision":1,"timing":"late","mean":24,"max":28,"count":3}"#,
                // Line 9: b is hot again (b's own watermark is far behind a's).
                #"{"app":"tiny","trigger":"too_hot","device":"b","time":1795824020000,"value":{"temperature":32.0}}"#,
                // The end of the input closes the windows still open.
                #"{"app":"tiny","series":"minute","device":"a","start":1795824180000,"end":1795824240000,"revision":0,"timing":"on_time","mean":27,"max":27,"count":1}"#,
                #"{"app":"tiny","trigger":"warm_minute","device":"a","time":1795824180000,"value":{"app":"tiny","series":"minute","device":"a","start":1795824180000,"end":1795824240000,"revision":0,"timing":"on_time","mean":27,"max":27,"count":1}}"#,
                #"{"app":"tiny","series":"minute","device":"b","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","mean":31.5,"max":32,"count":2}"#,
                #"{"app":"tiny","trigger":"warm_minute","device":"b","time":1795824000000,"value":{"app":"tiny","series":"minute","device":"b","start":1795824000000,"end":1795824060000,"revision":0,"timing":"on_time","mean":31.5,"max":32,"count":2}}"#,
            ])
            #expect(try scratch.lines("late.jsonl") == [
                #"{"line":5,"reason":"malformed","error":"not valid JSON","value":"this is not json"}"#,
                // Line 8 comes when a's watermark is t0+185s, past the first minute's end plus its lateness.
                #"{"line":8,"reason":"too-late","value":"{\"device\":\"a\",\"ts\":1795824040000,\"temperature\":10.0}"}"#,
            ])
            let stderr = batch.stderr.split(separator: "\n").map(String.init)
            #expect(stderr.first == "readings.jsonl:5: malformed: not valid JSON")
            #expect(stderr.count == 2)
            #expect(stderr.last?.wholeMatch(of: /9 lines: 5 results, 5 trigger events, 1 too late, 1 malformed \(\d+\.\d\d s, \d+ lines\/s\)/) != nil, "\(stderr)")
        }

        @Test("every line of batch's late file is JSON, even for a line that is not UTF-8")
        func lateFileOfInvalidUTF8() throws {
            let scratch = try ScratchDirectory("batch-utf8")
            defer { scratch.remove() }
            try scratch.write("tiny.yaml", Self.app)
            var input = Data(#"{"device":"a","ts":1795824010000,"temperature":20.0}"#.utf8 + [0x0A])
            input.append(contentsOf: Array(#"{"device":"a"#.utf8) + [0xFF] + Array(#"","ts":1795824010000}"#.utf8) + [0x0A])
            try input.write(to: scratch.url.appendingPathComponent("readings.jsonl"))
            let batch = try runTool(
                ["batch", "--app", "tiny.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(batch.status == 0)
            #expect(batch.stderr.hasPrefix("readings.jsonl:2: malformed: invalid UTF-8\n"))
            let late = try Data(contentsOf: scratch.url.appendingPathComponent("late.jsonl"))
            let line = try JSONSerialization.jsonObject(with: late) as? [String: Any]
            #expect(line?["line"] as? Int == 2)
            #expect(line?["error"] as? String == "invalid UTF-8")
            // The line's exact bytes survive, in base64 since a JSON string holds only text.
            let original = Array(#"{"device":"a"#.utf8) + [0xFF] + Array(#"","ts":1795824010000}"#.utf8)
            #expect((line?["value_base64"] as? String).flatMap { Data(base64Encoded: $0) } == Data(original))
        }

        @Test("validate (and run) name file, line and column of each error and exit 1")
        func validateReportsEveryError() throws {
            let scratch = try ScratchDirectory("validate")
            defer { scratch.remove() }
            try scratch.write("apps/tiny.yaml", Self.app)
            try scratch.write("apps/bad.yaml", """
                app: bad
                input: {topic: readings, format: json, device: device, time: ts}
                watermark: {per: device, out_of_order: 10 parsecs}
                series:
                  - name: minute
                    window: {size: 1m}
                    colour: blue
                    aggregate: {mean: mean(temperature)}
                    output: minute
                triggers:
                  - {name: t, when: temperature >> 3, output: alerts}

                """)
            let broken = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(broken.status == 1)
            #expect(broken.stdout == "")
            #expect(broken.stderr == """
                apps/bad.yaml:3:40: error: bad duration '10 parsecs': expected a whole number with a unit ms, s, m, h or d (e.g. 500ms, 10s, 2m, 6h, 1d)
                apps/bad.yaml:7:5: error: unknown key 'colour' in a series; allowed keys: name, window, allowed_lateness, emit, aggregate, compare, output
                apps/bad.yaml:11:34: error: expected an operand after '>', found '>'

                """)

            // run refuses to start on the same directory, with the same errors.
            let run = try runTool(["run", "--brokers", "127.0.0.1:9", "--apps", "apps"], in: scratch.url)
            #expect(run.status == 1)
            #expect(run.stderr == broken.stderr)

            try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("apps/bad.yaml"))
            let fixed = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(fixed.status == 0)
            #expect(fixed.stdout == "tiny: input readings, 1 series, 2 triggers (apps/tiny.yaml)\n")
        }
    }
}
