// Comparisons with history through `tidemark batch` and `tidemark validate`: nine days of
// hand-made readings with every output line known in advance, and each mistake named at its
// file, line and column; and through `tidemark run` on the embedded broker, against batch.
import EmbeddedKafka
import Foundation
import Testing

extension TidemarkCommandLine {
    @Suite("compare: through batch and validate")
    struct Comparisons {
        static let app = """
            app: history
            input: {topic: readings, format: json, device: device, time: ts}
            watermark: {per: device, out_of_order: 5m}
            series:
              - name: hourly
                window: {size: 1h}
                allowed_lateness: 2d
                aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                compare:
                  yesterday: {offset: 1d}
                  last_week: {offset: 7d}
                  trailing: {over: 6h}
                output: hourly
            triggers:
              - {name: warmer_than_last_week, on: hourly, when: mean > last_week.mean + 3, output: alerts}
            late: {output: late}

            """

        /// Device a reads twice in the 12:00 hour each day from the 20th (day 0), with a mean of
        /// 20, 21, 19, -, 22, 20, 21, 22 and on the 28th (day 8) 25; nothing on the 23rd. On day 8
        /// it also reads at 09:30 and 14:00; then a late reading for day 7's 12:00 hour comes in.
        /// Device b reads on days 0 and 7 only.
        static let readings = """
            {"device":"a","ts":"2026-11-20T12:10:00Z","temperature":19.0}
            {"device":"a","ts":"2026-11-20T12:40:00Z","temperature":21.0}
            {"device":"b","ts":"2026-11-20T12:30:00Z","temperature":10.0}
            {"device":"a","ts":"2026-11-21T12:10:00Z","temperature":20.0}
            {"device":"a","ts":"2026-11-21T12:40:00Z","temperature":22.0}
            {"device":"a","ts":"2026-11-22T12:10:00Z","temperature":18.0}
            {"device":"a","ts":"2026-11-22T12:40:00Z","temperature":20.0}
            {"device":"a","ts":"2026-11-24T12:10:00Z","temperature":21.0}
            {"device":"a","ts":"2026-11-24T12:40:00Z","temperature":23.0}
            {"device":"a","ts":"2026-11-25T12:10:00Z","temperature":19.0}
            {"device":"a","ts":"2026-11-25T12:40:00Z","temperature":21.0}
            {"device":"a","ts":"2026-11-26T12:10:00Z","temperature":20.0}
            {"device":"a","ts":"2026-11-26T12:40:00Z","temperature":22.0}
            {"device":"a","ts":"2026-11-27T12:10:00Z","temperature":21.0}
            {"device":"a","ts":"2026-11-27T12:40:00Z","temperature":23.0}
            {"device":"b","ts":"2026-11-27T12:30:00Z","temperature":12.0}
            {"device":"a","ts":"2026-11-28T09:30:00Z","temperature":22.0}
            {"device":"a","ts":"2026-11-28T12:10:00Z","temperature":24.0}
            {"device":"a","ts":"2026-11-28T12:40:00Z","temperature":26.0}
            {"device":"a","ts":"2026-11-28T14:00:00Z","temperature":23.0}
            {"device":"a","ts":"2026-11-27T12:20:00Z","temperature":25.0}

            """

        @Test("nine days of readings give these results: comparisons, null where a day is missing, a trigger on last_week, and today re-emitted when a late reading revises yesterday")
        func batchWithComparisons() throws {
            let scratch = try ScratchDirectory("compare-batch")
            defer { scratch.remove() }
            try scratch.write("history.yaml", Self.app)
            try scratch.write("readings.jsonl", Self.readings)
            let batch = try runTool(
                ["batch", "--app", "history.yaml", "--input", "readings.jsonl", "--output", "out.jsonl", "--late", "late.jsonl"],
                in: scratch.url)
            #expect(batch.status == 0, "\(batch.stderr)")
            let head = #"{"app":"history","series":"hourly","#
            #expect(try scratch.lines("out.jsonl") == [
                // Each 12:00 hour closes with a's first reading of the next day.
                head + #""device":"a","start":1795176000000,"end":1795179600000,"revision":0,"timing":"on_time","mean":20,"max":21,"count":2,"yesterday":null,"last_week":null,"trailing":null}"#,
                head + #""device":"a","start":1795262400000,"end":1795266000000,"revision":0,"timing":"on_time","mean":21,"max":22,"count":2,"yesterday":{"mean":20,"max":21,"count":2},"last_week":null,"trailing":null}"#,
                head + #""device":"a","start":1795348800000,"end":1795352400000,"revision":0,"timing":"on_time","mean":19,"max":20,"count":2,"yesterday":{"mean":21,"max":22,"count":2},"last_week":null,"trailing":null}"#,
                // The 24th: nothing on the 23rd, so no yesterday.
                head + #""device":"a","start":1795521600000,"end":1795525200000,"revision":0,"timing":"on_time","mean":22,"max":23,"count":2,"yesterday":null,"last_week":null,"trailing":null}"#,
                head + #""device":"a","start":1795608000000,"end":1795611600000,"revision":0,"timing":"on_time","mean":20,"max":21,"count":2,"yesterday":{"mean":22,"max":23,"count":2},"last_week":null,"trailing":null}"#,
                head + #""device":"a","start":1795694400000,"end":1795698000000,"revision":0,"timing":"on_time","mean":21,"max":22,"count":2,"yesterday":{"mean":20,"max":21,"count":2},"last_week":null,"trailing":null}"#,
                // b's own watermark closes its first hour: devices read only their own history.
                head + #""device":"b","start":1795176000000,"end":1795179600000,"revision":0,"timing":"on_time","mean":10,"max":10,"count":1,"yesterday":null,"last_week":null,"trailing":null}"#,
                // The 27th has a last week; 22 is not 3 above 20.
                head + #""device":"a","start":1795780800000,"end":1795784400000,"revision":0,"timing":"on_time","mean":22,"max":23,"count":2,"yesterday":{"mean":21,"max":22,"count":2},"last_week":{"mean":20,"max":21,"count":2},"trailing":null}"#,
                head + #""device":"a","start":1795856400000,"end":1795860000000,"revision":0,"timing":"on_time","mean":22,"max":22,"count":1,"yesterday":null,"last_week":null,"trailing":null}"#,
                // The 28th, 12:00: its trailing 6 hours hold the 09:00 hour; 25 is 3 above 21 and more.
                head + #""device":"a","start":1795867200000,"end":1795870800000,"revision":0,"timing":"on_time","mean":25,"max":26,"count":2,"yesterday":{"mean":22,"max":23,"count":2},"last_week":{"mean":21,"max":22,"count":2},"trailing":{"mean":22,"max":22,"count":1}}"#,
                #"{"app":"history","trigger":"warmer_than_last_week","device":"a","time":1795867200000,"value":"# + head
                    + #""device":"a","start":1795867200000,"end":1795870800000,"revision":0,"timing":"on_time","mean":25,"max":26,"count":2,"yesterday":{"mean":22,"max":23,"count":2},"last_week":{"mean":21,"max":22,"count":2},"trailing":{"mean":22,"max":22,"count":1}}}"#,
                // The late reading revises the 27th (within its 2 days of lateness), and so the
                // 28th, whose yesterday it is: both are emitted again when the batch ends.
                head + #""device":"a","start":1795780800000,"end":1795784400000,"revision":1,"timing":"late","mean":23,"max":25,"count":3,"yesterday":{"mean":21,"max":22,"count":2},"last_week":{"mean":20,"max":21,"count":2},"trailing":null}"#,
                head + #""device":"a","start":1795867200000,"end":1795870800000,"revision":1,"timing":"late","mean":25,"max":26,"count":2,"yesterday":{"mean":23,"max":25,"count":3},"last_week":{"mean":21,"max":22,"count":2},"trailing":{"mean":22,"max":22,"count":1}}"#,
                #"{"app":"history","trigger":"warmer_than_last_week","device":"a","time":1795867200000,"value":"# + head
                    + #""device":"a","start":1795867200000,"end":1795870800000,"revision":1,"timing":"late","mean":25,"max":26,"count":2,"yesterday":{"mean":23,"max":25,"count":3},"last_week":{"mean":21,"max":22,"count":2},"trailing":{"mean":22,"max":22,"count":1}}}"#,
                // The end of the input closes the rest: 14:00's trailing 6 hours merge 09:00 and 12:00.
                head + #""device":"a","start":1795874400000,"end":1795878000000,"revision":0,"timing":"on_time","mean":23,"max":23,"count":1,"yesterday":null,"last_week":null,"trailing":{"mean":24,"max":26,"count":3}}"#,
                head + #""device":"b","start":1795780800000,"end":1795784400000,"revision":0,"timing":"on_time","mean":12,"max":12,"count":1,"yesterday":null,"last_week":{"mean":10,"max":10,"count":1},"trailing":null}"#,
            ])
            #expect(try scratch.lines("late.jsonl") == [])
        }

        @Test("validate names file, line and column of compare on a hopping or session series, an offset that is not a multiple of the window, bad comparison names and unknown comparisons in triggers")
        func validateReportsComparisonErrors() throws {
            let scratch = try ScratchDirectory("compare-validate")
            defer { scratch.remove() }
            try scratch.write("apps/history.yaml", Self.app)
            try scratch.write("apps/bad.yaml", """
                app: bad
                input: {topic: readings, format: json, device: device, time: ts}
                series:
                  - name: sliding
                    window: {size: 1h, slide: 10m}
                    aggregate: {mean: mean(temperature)}
                    compare: {yesterday: {offset: 1d}}
                    output: sliding
                  - name: visits
                    window: {gap: 30m}
                    aggregate: {count: count()}
                    compare:
                      last_week: {offset: 7d}
                    output: visits
                  - name: hourly
                    window: {size: 1h}
                    aggregate: {mean: mean(temperature)}
                    compare:
                      yesterday: {offset: 90m}
                      mean: {over: 6h}
                      last.week: {offset: 7d}
                    output: hourly
                  - name: daily
                    window: {size: 1d}
                    aggregate: {mean: mean(temperature)}
                    compare: {last_week: {offset: 7d}}
                    output: daily
                triggers:
                  - {name: hot, on: daily, when: mean > lastweek.mean + 3, output: alerts}
                  - {name: cold, on: daily, when: last_week.min > mean, output: alerts}

                """)
            let broken = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(broken.status == 1)
            #expect(broken.stdout == "")
            #expect(broken.stderr == """
                apps/bad.yaml:7:5: error: compare needs a tumbling window ({size: D}); this series' window is hopping
                apps/bad.yaml:12:5: error: compare needs a tumbling window ({size: D}); this series' window is a session
                apps/bad.yaml:19:27: error: offset 90m is not a multiple of the window size 1h, so it names no window of this series
                apps/bad.yaml:20:7: error: comparison name 'mean' is also an aggregate of this series; results hold both as fields
                apps/bad.yaml:21:7: error: comparison name 'last.week' must be a plain name (letters, digits and _, not starting with a digit): triggers read its aggregates as name.aggregate, e.g. yesterday.mean
                apps/bad.yaml:29:41: error: series 'daily' has no comparison 'lastweek'; its comparisons: last_week
                apps/bad.yaml:30:35: error: comparison 'last_week' of series 'daily' has no aggregate 'min'; its aggregates: mean

                """)

            try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("apps/bad.yaml"))
            let fixed = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(fixed.status == 0)
            #expect(fixed.stdout == "history: input readings, 1 series, 1 trigger (apps/history.yaml)\n")
        }
    }
}

extension TidemarkCommandLine.Comparisons {
    /// Five-minute windows of the simulated readings against the window before and the half
    /// hour before, with outage backfills that revise windows others compare with.
    static let simulatedApp = """
        app: history
        input: {topic: readings, format: json, device: device, time: ts}
        watermark: {per: device, out_of_order: 10s}
        series:
          - name: five_minutes
            window: {size: 5m}
            allowed_lateness: 10m
            aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
            compare:
              before: {offset: 5m}
              half_hour: {over: 30m}
            output: history-five-minutes
        triggers:
          - {name: warmer_than_before, on: five_minutes, when: mean > before.mean + 1, output: history-alerts}
        late: {output: history-late}

        """

    @Test("run with compare: through the embedded broker gives batch's final revision of every window, comparisons included")
    func runWithComparisonsEqualsBatch() throws {
        let outputs = ["history-five-minutes", "history-alerts"]
        let fixture = try EndToEndFixture("compare-run", extraTopics: outputs + ["history-late"])
        defer { fixture.tearDown() }
        try fixture.scratch.write("compare-apps/history.yaml", Self.simulatedApp)

        let service = try RunningService(broker: fixture.broker, apps: fixture.scratch.path("compare-apps"), group: "g")
        defer { service.tool.kill() }
        try service.waitForRecordsIn(app: "history", fixture.readings.count)
        #expect(try service.stop() == 0, "tidemark run did not exit 0 on SIGTERM: \(service.tool.stderr.text.suffix(2000))")
        #expect(service.problemsLogged.isEmpty)

        let topics = try readTopics(outputs + ["history-late"], partitions: 4, bootstrap: fixture.broker.bootstrapServers)
        // The comparison is worth making only if some result read a revised window.
        let results = topics["history-five-minutes", default: []].compactMap(\.valueText)
        #expect(results.contains { $0.contains(#""revision":0"#) && $0.contains(#""before":{"#) })
        #expect(results.contains { !$0.contains(#""revision":0"#) && $0.contains(#""half_hour":{"#) })
        try expectRunOutputs(
            topics, outputTopics: outputs, lateTopic: "history-late", matchBatchOf: "compare-apps/history.yaml",
            over: "readings.jsonl", in: fixture.scratch)
    }
}
