// App files: the DESIGN.md example loads to an exact typed definition; every kind of
// mistake is reported at its file:line:column.
import Foundation
import Streaming
import Testing
import Tidemark

let designExample = """
    app: thermostat                 # unique name; part of every output record
    input:
      topic: readings
      format: json                  # the value is a JSON object
      device: device                # field with the device id (default: the message key)
      time: ts                      # event-time field (default: the message timestamp)
      start: -8d                    # where an app with no state yet begins: earliest | latest | -DURATION
    watermark:
      per: device                   # device | partition
      out_of_order: 10s
      idle: 2m
    series:
      - name: mean_temperature
        window: {size: 30m, slide: 1m}   # {size: 1m} tumbling; {gap: 5m} session
        allowed_lateness: 6h
        emit: final                 # final | updates | {every: 10s}
        aggregate:
          mean: mean(temperature)
          max: max(temperature)
          count: count()
        output: mean-temperature
    triggers:
      - name: bad_temperature
        when: temperature > 30 or temperature < 5
        output: alerts
      - name: hot_room
        on: mean_temperature
        when: mean > 28
        output: alerts
    late:
      output: readings-late
    """

/// The errors loading `yaml` as `a.yaml` reports, one description a line.
func configErrors(_ yaml: String) -> [String] {
    do {
        _ = try AppDefinition.parse(yaml: yaml, file: "a.yaml")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// A minimal valid app with `extra` appended to its series item (indented to match).
func app(series: String = "", triggers: String = "") -> String {
    """
    app: t
    input: {topic: readings}
    series:
      - name: s
        window: {size: 1m}
        aggregate: {mean: mean(temperature)}
        output: out
    \(series)\(triggers)
    """
}

@Suite struct AppLoaderTests {
    @Test func designExampleLoadsExactly() throws {
        let app = try AppDefinition.parse(yaml: designExample, file: "thermostat.yaml")
        let expected = AppDefinition(
            name: "thermostat", sourceFile: "thermostat.yaml",
            input: InputSpec(topic: "readings", format: .json, deviceField: "device", timeField: "ts", start: .ago(691_200_000)),
            watermark: WatermarkSpec(scope: .device, outOfOrder: 10_000, idle: 120_000),
            numericFields: ["temperature"], stringFields: [],
            series: [
                SeriesDefinition(
                    spec: SeriesSpec(
                        name: "mean_temperature", window: .hopping(size: 1_800_000, slide: 60_000),
                        allowedLateness: 21_600_000, emit: .final,
                        aggregates: [
                            AggregateSpec(name: "mean", function: .mean, field: 0),
                            AggregateSpec(name: "max", function: .max, field: 0),
                            AggregateSpec(name: "count", function: .count, field: nil),
                        ]),
                    output: "mean-temperature")
            ],
            triggers: [
                TriggerDefinition(
                    name: "bad_temperature", source: .records,
                    condition: try TriggerCondition(
                        "temperature > 30 or temperature < 5", numberSlot: { $0 == "temperature" ? 0 : nil }),
                    output: "alerts"),
                TriggerDefinition(
                    name: "hot_room", source: .series(index: 0),
                    condition: try TriggerCondition(
                        "mean > 28", numberSlot: { ["mean", "max", "count", "start", "end", "revision"].firstIndex(of: $0) }),
                    output: "alerts"),
            ],
            lateOutput: "readings-late")
        #expect(app == expected)
        #expect(app.series[0].resultFields == ["mean", "max", "count", "start", "end", "revision"])
        #expect(app.aggregatedFieldSlots == [0])
        #expect(app.triggers[1].condition.evaluate(numbers: [28.5, 30, 12, 0, 0, 0]))
    }

    @Test func comparisonsLoadAndTriggersReadThemWithDottedNames() throws {
        let app = try AppDefinition.parse(
            yaml: """
                app: history
                input: {topic: readings, device: device, time: ts}
                series:
                  - name: hourly
                    window: {size: 1h}
                    allowed_lateness: 12h
                    aggregate: {mean: mean(temperature), count: count()}
                    compare:
                      yesterday: {offset: 1d}
                      trailing: {over: 6h}
                    output: hourly
                triggers:
                  - {name: up, on: hourly, when: mean > yesterday.mean + 3 and trailing.count > 2, output: alerts}
                """, file: "history.yaml")
        #expect(app.series[0].spec.comparisons == [
            ComparisonSpec(name: "yesterday", reach: .offset(86_400_000)), ComparisonSpec(name: "trailing", reach: .over(21_600_000)),
        ])
        #expect(app.series[0].resultFields == [
            "mean", "count", "start", "end", "revision", "yesterday.mean", "yesterday.count", "trailing.mean", "trailing.count",
        ])
        let condition = app.triggers[0].condition
        #expect(condition.evaluate(numbers: [25, 4, 0, 0, 0, 21, 3, 22, 3]))
        #expect(!condition.evaluate(numbers: [25, 4, 0, 0, 0, 22.5, 3, 22, 3]))
        // A comparison that is null (no such window) makes the comparison false, as a field does.
        #expect(!condition.evaluate(numbers: [25, 4, 0, 0, 0, .nan, .nan, 22, 3]))
        // Comparisons are state: an app that adds one does not read the old app's changelog.
        func signature(_ series: [SeriesSpec]) throws -> UInt64 {
            try WindowEngine(series: series, watermark: app.watermark, fieldCount: app.numericFields.count).stateSignature
        }
        var plain = app.series[0].spec
        plain.comparisons = []
        #expect(try signature([app.series[0].spec]) != signature([plain]))
    }

    @Test func defaultsAndOtherShapes() throws {
        let app = try AppDefinition.parse(
            yaml: """
                app: door
                input: {topic: doors}
                series:
                  - name: opened
                    window: {gap: 5m}
                    emit: {every: 10s}
                    aggregate: {n: count(), p: p95(level), p1: p1(level), sd: stddev(battery), l: last(level)}
                    output: sessions
                  - name: daily
                    window: {size: 1d}
                    emit: updates
                    aggregate: {total: sum(level)}
                    output: daily
                triggers:
                  - name: open_door
                    when: state == "open" and battery < 3.1
                    output: alerts
                """, file: "door.yaml")
        #expect(app.input == InputSpec(topic: "doors"))
        #expect(app.watermark == WatermarkSpec(scope: .device, outOfOrder: 0, idle: nil))
        #expect(app.lateOutput == "door-late")
        #expect(app.numericFields == ["level", "battery"])
        #expect(app.stringFields == ["state"])
        #expect(app.series[0].spec.window == .session(gap: 300_000))
        #expect(app.series[0].spec.emit == .every(10_000))
        #expect(app.series[0].spec.allowedLateness == 0)
        #expect(
            app.series[0].spec.aggregates == [
                AggregateSpec(name: "n", function: .count, field: nil),
                AggregateSpec(name: "p", function: .percentile(95), field: 0),
                AggregateSpec(name: "p1", function: .percentile(1), field: 0),
                AggregateSpec(name: "sd", function: .stddev, field: 1),
                AggregateSpec(name: "l", function: .last, field: 0),
            ])
        #expect(app.series[1].spec.window == .tumbling(size: 86_400_000))
        #expect(app.series[1].spec.emit == .updates)
        #expect(app.triggers[0].source == .records)
    }

    @Test func durationsWithEveryUnit() throws {
        let yaml = """
            app: t
            input: {topic: r}
            watermark: {per: partition, out_of_order: 500ms, idle: 1h}
            series:
              - {name: s, window: {size: 2m, slide: 10s}, allowed_lateness: 0, aggregate: {c: count()}, output: o}
            """
        let app = try AppDefinition.parse(yaml: yaml, file: "t.yaml")
        #expect(app.watermark == WatermarkSpec(scope: .partition, outOfOrder: 500, idle: 3_600_000))
        #expect(app.series[0].spec.window == .hopping(size: 120_000, slide: 10_000))
    }

    @Test func unknownKeysNameTheAllowedOnes() {
        #expect(
            configErrors("app: t\ninput: {topic: r, keys: k}\ntrigers: []\n") == [
                "a.yaml:3:1: error: unknown key 'trigers' in the app file; allowed keys: app, input, watermark, series, triggers, late",
                "a.yaml:2:19: error: unknown key 'keys' in input; allowed keys: topic, format, device, time, time_unit, start, key",
                "a.yaml:1:1: error: an app needs at least one series or trigger",
            ])
        #expect(
            configErrors(app(series: "    colour: red\n")) == [
                "a.yaml:8:5: error: unknown key 'colour' in a series; allowed keys: name, window, allowed_lateness, emit, aggregate, compare, output"
            ])
    }

    @Test func inputStartIsEarliestLatestOrADurationBack() throws {
        func start(_ text: String) throws -> InputStart? {
            try AppDefinition.parse(yaml: app().replacingOccurrences(of: "{topic: readings}", with: "{topic: readings, start: \(text)}"), file: "a.yaml")
                .input.start
        }
        #expect(try start("earliest") == .earliest)
        #expect(try start("latest") == .latest)
        #expect(try start("-36h") == .ago(129_600_000))
        #expect(try AppDefinition.parse(yaml: app(), file: "a.yaml").input.start == nil)
        for (text, column) in [("8d", 33), ("-8", 33), ("yesterday", 33), ("-8 d", 33)] {
            #expect(
                configErrors(app().replacingOccurrences(of: "{topic: readings}", with: "{topic: readings, start: \(text)}")) == [
                    "a.yaml:2:\(column): error: start must be earliest, latest or a duration back from now (-8d), found '\(text)'"
                ])
        }
    }

    @Test func badDurations() {
        #expect(
            configErrors("app: t\ninput: {topic: r}\nwatermark: {out_of_order: 10 s}\ntriggers: [{name: x, when: a > 1, output: o}]\n")
                == [
                    "a.yaml:3:27: error: bad duration '10 s': expected a whole number with a unit ms, s, m, h or d (e.g. 500ms, 10s, 2m, 6h, 1d)"
                ])
        #expect(
            configErrors(app(series: "    allowed_lateness: 5\n")) == [
                "a.yaml:8:23: error: bad duration '5': expected a whole number with a unit ms, s, m, h or d (e.g. 500ms, 10s, 2m, 6h, 1d)"
            ])
    }

    @Test func badWindows() {
        let base = "app: t\ninput: {topic: r}\nseries:\n  - name: s\n    aggregate: {c: count()}\n    output: o\n"
        #expect(
            configErrors(base + "    window: {size: 10m, slide: 3m}\n") == [
                "a.yaml:7:32: error: window slide 3m must divide window size 10m"
            ])
        #expect(
            configErrors(base + "    window: {size: 0s}\n") == ["a.yaml:7:20: error: duration must be greater than zero"])
        #expect(
            configErrors(base + "    window: {size: 1m, gap: 1m}\n") == [
                "a.yaml:7:13: error: a window is {size: D} (tumbling), {size: D, slide: D} (hopping) or {gap: D} (session)"
            ])
    }

    @Test func badAggregates() {
        let base = "app: t\ninput: {topic: r}\nseries:\n  - name: s\n    window: {size: 1m}\n    output: o\n"
        #expect(
            configErrors(base + "    aggregate: {m: median(x), p: p100(x), c: count(x), s: sum()}\n") == [
                "a.yaml:7:20: error: unknown aggregate function 'median'; expected count, sum, mean, min, max, stddev, first, last or p1…p99",
                "a.yaml:7:34: error: unknown aggregate function 'p100'; expected count, sum, mean, min, max, stddev, first, last or p1…p99",
                "a.yaml:7:46: error: count() takes no field; it counts records",
                "a.yaml:7:59: error: sum() needs a field, e.g. sum(temperature)",
            ])
    }

    @Test func expressionErrorsPointInsideTheExpression() {
        let triggers = "triggers:\n  - name: x\n    when: temperature > 30 or\n    output: o\n"
        #expect(configErrors(app(triggers: triggers)) == ["a.yaml:10:30: error: expected an operand after 'or'"])
        let quoted = "triggers:\n  - name: x\n    when: \"temperature >> 3\"\n    output: o\n"
        #expect(
            configErrors(app(triggers: quoted)) == ["a.yaml:10:25: error: expected an operand after '>', found '>'"])
    }

    @Test func duplicateNamesAndUnknownSeries() {
        let yaml = """
            app: t
            input: {topic: r}
            series:
              - {name: s, window: {size: 1m}, aggregate: {mean: mean(x)}, output: o}
              - {name: s, window: {size: 1m}, aggregate: {mean: mean(x)}, output: o}
            triggers:
              - {name: a, when: x > 1, output: o}
              - {name: a, when: x > 2, output: o}
              - {name: b, on: nope, when: mean > 1, output: o}
              - {name: c, on: s, when: max > 1, output: o}
            """
        #expect(
            configErrors(yaml) == [
                "a.yaml:5:12: error: duplicate series name 's' (first defined at a.yaml:4:12)",
                "a.yaml:8:12: error: duplicate trigger name 'a' (first defined at a.yaml:7:12)",
                "a.yaml:9:19: error: unknown series 'nope'; this app's series: s",
                "a.yaml:10:28: error: series 's' has no field 'max'; its fields: mean, start, end, revision",
            ])
    }

    @Test func missingRequiredKeys() {
        #expect(
            configErrors("app: t\ninput: {format: json}\ntriggers:\n  - {name: a, output: o}\n") == [
                "a.yaml:2:8: error: missing required key 'topic' in input",
                "a.yaml:4:5: error: missing required key 'when' in a trigger",
            ])
        #expect(
            configErrors("input: {topic: r}\n") == [
                "a.yaml:1:1: error: missing required key 'app' in the app file",
                "a.yaml:1:1: error: an app needs at least one series or trigger",
            ])
    }

    @Test func yamlSyntaxErrorsHaveAPosition() {
        let errors = configErrors("app: t\ninput: {topic: r\n")
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("a.yaml:3:1: error: invalid YAML:") == true)
    }

    @Test func directoryReportsAllErrorsAndDuplicateApps() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try designExample.write(to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try designExample.write(to: directory.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        try "app: c\ninput: {topic: r, bogus: 1}\n".write(
            to: directory.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        try "not an app".write(to: directory.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let path = directory.path
        do {
            _ = try AppLoader.load(path: path)
            Issue.record("expected errors")
        } catch {
            #expect(
                error.errors.map(\.description) == [
                    "\(path)/c.yaml:2:19: error: unknown key 'bogus' in input; allowed keys: topic, format, device, time, time_unit, start, key",
                    "\(path)/c.yaml:1:1: error: an app needs at least one series or trigger",
                    "\(path)/b.yml:1:6: error: duplicate app name 'thermostat' (also defined at \(path)/a.yaml:1:6)",
                ].sorted { $0.contains("b.yml") && !$1.contains("b.yml") })
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("c.yaml"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("b.yml"))
        let apps = try AppLoader.load(path: path)
        #expect(apps.map(\.name) == ["thermostat"])
        #expect(apps[0].sourceFile == "\(path)/a.yaml")
    }
}

/// What an app file may say that would hurt a running process: refused when loading, at the
/// file:line:column of the value at fault.
@Suite struct AppLoaderLimitTests {
    @Test func durationsBeyondWhatTheEngineHoldsAreRefusedWhereTheyAre() {
        let base = "app: t\ninput: {topic: r}\nseries:\n  - name: s\n    aggregate: {c: count()}\n    output: o\n"
        #expect(
            configErrors(base + "    window: {size: 106751991167d}\n") == [
                "a.yaml:7:20: error: duration '106751991167d' is too long: at most 3335999723d"
            ])
        #expect(
            configErrors(
                "app: t\ninput: {topic: r}\nwatermark: {out_of_order: 9223372036854775807ms}\ntriggers: [{name: x, when: a > 1, output: o}]\n"
            ) == ["a.yaml:3:27: error: duration '9223372036854775807ms' is too long: at most 3335999723d"])
        // The longest accepted is exactly the engine's bound.
        #expect(configErrors(base + "    window: {size: 3335999723d}\n") == [])
    }

    @Test func hoppingWindowsPutAReadingInAtMostTenThousandWindows() {
        let base = "app: t\ninput: {topic: r}\nseries:\n  - name: s\n    aggregate: {c: count()}\n    output: o\n"
        #expect(
            configErrors(base + "    window: {size: 1d, slide: 1ms}\n") == [
                "a.yaml:7:31: error: window {size: 1d, slide: 1ms} puts each reading in 86400000 windows; at most 10000 (size / slide) are allowed, so choose a longer slide"
            ])
        for fine in ["{size: 1d, slide: 1m}", "{size: 1d, slide: 10s}", "{size: 10000s, slide: 1s}", "{size: 1ms}", "{gap: 1ms}"] {
            #expect(configErrors(base + "    window: \(fine)\n") == [], "\(fine)")
        }
        #expect(configErrors(base + "    window: {size: 10001s, slide: 1s}\n").count == 1)
    }

    @Test func hoppingWindowsKeepAtMostAHundredThousandPanesOfADevice() {
        let base = "app: t\ninput: {topic: r}\nseries:\n  - name: s\n    aggregate: {c: count()}\n    output: o\n"
        #expect(
            configErrors(base + "    window: {size: 1s, slide: 1ms}\n    allowed_lateness: 7d\n") == [
                "a.yaml:8:23: error: a device would keep 604801000 panes of this window open or revisable; at most 100000 ((size + allowed_lateness) / slide) are allowed, so choose a longer slide or less lateness"
            ])
        // A day by the minute with 68 days of lateness; an hour by the second with a day.
        #expect(configErrors(base + "    window: {size: 1d, slide: 1m}\n    allowed_lateness: 68d\n") == [])
        #expect(configErrors(base + "    window: {size: 1h, slide: 1s}\n    allowed_lateness: 1d\n") == [])
        #expect(configErrors(base + "    window: {size: 1d, slide: 1m}\n    allowed_lateness: 70d\n").count == 1)
        // Tumbling windows are not bounded: one pane per window.
        #expect(configErrors(base + "    window: {size: 1ms}\n    allowed_lateness: 7d\n") == [])
    }

    @Test func topicNamesFollowKafkasRules() {
        let long = String(repeating: "x", count: 250)
        let yaml = """
            app: t
            input: {topic: bad topic!}
            series:
              - {name: s, window: {size: 1m}, aggregate: {c: count()}, output: \(long)}
            triggers:
              - {name: a, when: x > 1, output: ..}
              - {name: b, when: x > 1, output: "ünïcode"}
            late: {output: .}
            """
        #expect(
            configErrors(yaml) == [
                "a.yaml:2:16: error: 'bad topic!' is not a legal Kafka topic name: use only letters, digits, '.', '_' and '-'",
                "a.yaml:4:68: error: topic name is 250 bytes long; Kafka allows at most 249",
                "a.yaml:6:36: error: '..' is not a legal Kafka topic name",
                "a.yaml:7:36: error: 'ünïcode' is not a legal Kafka topic name: use only letters, digits, '.', '_' and '-'",
                "a.yaml:8:16: error: '.' is not a legal Kafka topic name",
            ])
        // Without late.output, the late topic is made of the app name.
        #expect(
            configErrors("app: my app\ninput: {topic: r}\ntriggers: [{name: x, when: a > 1, output: o}]\n") == [
                "a.yaml:1:6: error: the default late topic 'my app-late': 'my app-late' is not a legal Kafka topic name: use only letters, digits, '.', '_' and '-'; set late.output"
            ])
        #expect(configErrors(app()) == [])
    }

    @Test func anOutputThatIsTheAppsOwnInputIsAFeedbackLoop() {
        let yaml = """
            app: t
            input: {topic: readings}
            series:
              - {name: s, window: {size: 1m}, aggregate: {c: count()}, output: readings}
            triggers:
              - {name: a, when: x > 1, output: readings}
            late: {output: readings}
            """
        let loop = "is this app's input topic: every record written there would be read again, forever (a feedback loop)"
        #expect(
            configErrors(yaml) == [
                "a.yaml:4:68: error: output 'readings' \(loop)",
                "a.yaml:6:36: error: output 'readings' \(loop)",
                "a.yaml:7:16: error: output 'readings' \(loop)",
            ])
        #expect(
            configErrors("app: t\ninput: {topic: t-late}\ntriggers: [{name: x, when: a > 1, output: o}]\n") == [
                "a.yaml:1:6: error: the default late topic 't-late' \(loop)"
            ])
    }

    @Test func aTopicCycleThroughSeveralAppsIsRefusedInEachOfThem() throws {
        let sources = [
            ("a.yaml", "app: a\ninput: {topic: t1}\ntriggers: [{name: x, when: v > 1, output: t2}]\nlate: {output: a-late}\n"),
            ("b.yaml", "app: b\ninput: {topic: t2}\ntriggers: [{name: x, when: v > 1, output: t3}]\nlate: {output: b-late}\n"),
            ("c.yaml", "app: c\ninput: {topic: t3}\ntriggers: [{name: x, when: v > 1, output: t1}]\nlate: {output: c-late}\n"),
            // Reads what the cycle writes, writes elsewhere: not part of it.
            ("d.yaml", "app: d\ninput: {topic: t2}\ntriggers: [{name: x, when: v > 1, output: alerts}]\n"),
        ]
        let forever = "records would go round these apps forever"
        do {
            _ = try AppLoader.parse(sources)
            Issue.record("expected a cycle")
        } catch {
            #expect(
                error.errors.map(\.description) == [
                    "a.yaml:3:43: error: topic cycle: app 'a' reads 't1' and writes 't2', app 'b' reads 't2' and writes 't3', app 'c' reads 't3' and writes 't1'; \(forever)",
                    "b.yaml:3:43: error: topic cycle: app 'b' reads 't2' and writes 't3', app 'c' reads 't3' and writes 't1', app 'a' reads 't1' and writes 't2'; \(forever)",
                    "c.yaml:3:43: error: topic cycle: app 'c' reads 't3' and writes 't1', app 'a' reads 't1' and writes 't2', app 'b' reads 't2' and writes 't3'; \(forever)",
                ])
        }
        // A late topic read again closes a cycle too.
        let viaLate = [
            ("a.yaml", "app: a\ninput: {topic: readings}\ntriggers: [{name: x, when: v > 1, output: alerts}]\nlate: {output: a-late}\n"),
            ("b.yaml", "app: b\ninput: {topic: a-late}\ntriggers: [{name: x, when: v > 1, output: readings}]\n"),
        ]
        #expect(throws: ConfigErrors.self) { try AppLoader.parse(viaLate) }
        #expect(try AppLoader.parse(Array(sources[3...]) + Array(sources[..<2])).map(\.name) == ["d", "a", "b"])
    }

    @Test func anOutputOntoAnInternalTopicOfTheGroupIsRefusedAtItsPlace() throws {
        let sources = [
            ("a.yaml", "app: a\ninput: {topic: readings}\ntriggers: [{name: x, when: v > 1, output: g-b-changelog}]\n"),
            ("b.yaml", "app: b\ninput: {topic: raw}\nlate: {output: g-readings-repartition}\ntriggers: [{name: x, when: v > 1, output: alerts}]\n"),
            ("c.yaml", "app: c\ninput: {topic: raw}\nseries:\n  - name: s\n    window: {size: 1m}\n    aggregate: {n: count()}\n    output: g-raw-changelog\n"),
            ("d.yaml", "app: d\ninput: {topic: raw}\ntriggers: [{name: x, when: v > 1, output: g-d-changelog}]\n"),
        ]
        do {
            _ = try AppLoader.parse(sources, group: "g")
            Issue.record("expected refusals")
        } catch {
            #expect(
                error.errors.map(\.description) == [
                    "a.yaml:3:43: error: output topic 'g-b-changelog' is the changelog of app 'b' of group 'g'; write to a topic of your own",
                    "b.yaml:3:16: error: output topic 'g-readings-repartition' is reserved for the repartition topic of input topic 'readings' of group 'g'; write to a topic of your own",
                    "c.yaml:7:13: error: output topic 'g-raw-changelog' is reserved for the changelog of input topic 'raw' of group 'g'; write to a topic of your own",
                    "d.yaml:3:43: error: output topic 'g-d-changelog' is the changelog of app 'd' of group 'g'; write to a topic of your own",
                ])
        }
        // Another group's names are anyone's; with no group known (batch), nothing is reserved.
        #expect(try AppLoader.parse(sources, group: "h").map(\.name) == ["a", "b", "c", "d"])
        #expect(try AppLoader.parse(sources).map(\.name) == ["a", "b", "c", "d"])
        // A hot reload refuses the fresh app alone; the one running keeps its place.
        let running = try AppLoader.parse(Array(sources[1...1]), group: "h")
        let next = AppReload.next(running: running, load: AppLoader.parseEach(Array(sources[...1])), group: "g")
        #expect(next.apps.map(\.name) == ["b"])
        #expect(next.errors.map(\.description) == [
            "a.yaml:3:43: error: output topic 'g-b-changelog' is the changelog of app 'b' of group 'g'; write to a topic of your own"
        ])
    }

    @Test func maxFutureDefaultsToADayAndCanBeSetOrSwitchedOff() throws {
        func maxFuture(_ watermark: String) throws -> Int64? {
            try AppDefinition.parse(
                yaml: "app: t\ninput: {topic: r}\n\(watermark)triggers: [{name: x, when: a > 1, output: o}]\n", file: "a.yaml"
            ).maxFuture
        }
        #expect(try maxFuture("") == 86_400_000)
        #expect(try maxFuture("watermark: {out_of_order: 1s}\n") == 86_400_000)
        #expect(try maxFuture("watermark: {max_future: 2h}\n") == 7_200_000)
        #expect(try maxFuture("watermark: {max_future: 0}\n") == 0)
        #expect(try maxFuture("watermark: {max_future: off}\n") == nil)
        #expect(
            configErrors("app: t\ninput: {topic: r}\nwatermark: {max_future: soon}\ntriggers: [{name: x, when: a > 1, output: o}]\n") == [
                "a.yaml:3:25: error: bad duration 'soon': expected a whole number with a unit ms, s, m, h or d (e.g. 500ms, 10s, 2m, 6h, 1d)"
            ])
    }

    @Test func overflowAndTimingAreReservedResultKeys() {
        #expect(
            configErrors(app(series: "").replacingOccurrences(of: "{mean: mean(temperature)}", with: "{overflow: sum(x)}")) == [
                "a.yaml:6:17: error: aggregate name 'overflow' is reserved; results already have app, series, device, start, end, revision, timing and overflow"
            ])
        #expect(
            configErrors(app(series: "").replacingOccurrences(of: "{mean: mean(temperature)}", with: "{timing: max(x)}")) == [
                "a.yaml:6:17: error: aggregate name 'timing' is reserved; results already have app, series, device, start, end, revision, timing and overflow"
            ])
    }

    /// A series trigger reads a result's timing as a string: `timing == "on_time"`.
    @Test func seriesTriggersCompareTheTimingWithAString() throws {
        let parsed = try AppDefinition.parse(
            yaml: app(triggers: "triggers:\n  - {name: settled, on: s, when: 'timing != \"early\" and mean > 28', output: o}\n"),
            file: "a.yaml")
        let condition = parsed.triggers[0].condition
        let timings: [StaticString] = ["early", "on_time", "late"]
        let fired = timings.map { timing in
            let bytes: UnsafeRawBufferPointer? = UnsafeRawBufferPointer(start: timing.utf8Start, count: timing.utf8CodeUnitCount)
            return withUnsafePointer(to: bytes) { slot in
                [30.0, 0, 60_000, 0].withUnsafeBufferPointer {
                    condition.evaluate(numbers: $0, strings: UnsafeBufferPointer(start: slot, count: 1))
                }
            }
        }
        #expect(fired == [false, true, true])
        #expect(
            configErrors(app(triggers: "triggers:\n  - {name: x, on: s, when: timing > 1, output: o}\n")) == [
                #"a.yaml:9:28: error: series 's': timing is a string, compared with one: timing == "on_time" (or "early", "late")"#
            ])
        #expect(
            configErrors(app(triggers: "triggers:\n  - {name: x, on: s, when: 'phase == \"late\"', output: o}\n")) == [
                #"a.yaml:9:29: error: series 's' has no string field 'phase'; its string fields: timing ("early", "on_time" or "late")"#
            ])
    }
}

/// How app files name fields: every spelling of a path is one slot, in aggregates and
/// triggers alike, and `time_unit` is read with its time field.
@Suite struct AppLoaderFieldPathTests {
    @Test func spellingsOfOnePathShareASlot() throws {
        let app = try AppDefinition.parse(
            yaml: """
                app: t
                input: {topic: r, device: "`meta`.id", time: "`ts`", time_unit: microseconds}
                series:
                  - {name: s, window: {size: 1m}, aggregate: {a: mean(`and`), b: max(env.`temp C`)}, output: o}
                triggers:
                  - {name: x, when: "`and` > 1 and `env`.`temp C` < 0 and `a.b` == true", output: o}
                  - {name: y, on: s, when: "`a` > 1 and b < 0", output: o}

                """, file: "a.yaml")
        #expect(app.input.deviceField == "meta.id")
        #expect(app.input.timeField == "ts")
        #expect(app.input.timeUnit == .microseconds)
        #expect(app.numericFields == ["`and`", "env.`temp C`", "`a.b`"])
    }

    @Test func timeUnitNeedsATimeField() {
        #expect(
            configErrors("app: t\ninput: {topic: r, time_unit: seconds}\ntriggers: [{name: x, when: v > 1, output: o}]\n")
                == ["a.yaml:2:30: error: time_unit needs a time field: without time: the event time is the message timestamp"])
    }
}
