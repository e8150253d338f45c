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
            input: InputSpec(topic: "readings", format: .json, deviceField: "device", timeField: "ts"),
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
            configErrors("app: t\ninput: {topic: r, key: k}\ntrigers: []\n") == [
                "a.yaml:3:1: error: unknown key 'trigers' in the app file; allowed keys: app, input, watermark, series, triggers, late",
                "a.yaml:2:19: error: unknown key 'key' in input; allowed keys: topic, format, device, time",
                "a.yaml:1:1: error: an app needs at least one series or trigger",
            ])
        #expect(
            configErrors(app(series: "    colour: red\n")) == [
                "a.yaml:8:5: error: unknown key 'colour' in a series; allowed keys: name, window, allowed_lateness, emit, aggregate, output"
            ])
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
                    "\(path)/c.yaml:2:19: error: unknown key 'bogus' in input; allowed keys: topic, format, device, time",
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
