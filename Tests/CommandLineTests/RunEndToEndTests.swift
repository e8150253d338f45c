// `tidemark run` against an embedded broker, checked record for record against
// `tidemark batch` over the same readings: the central promise of the design.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

/// The app both end-to-end tests run: per-device watermarks without idle flushes (so
/// results do not depend on processing time), a tumbling and a hopping series, lateness
/// short enough that outage backfills are partly too late, and both kinds of trigger.
let endToEndApp = """
    app: e2e
    input: {topic: readings, format: json, device: device, time: ts}
    watermark: {per: device, out_of_order: 10s}
    series:
      - name: minute
        window: {size: 1m}
        allowed_lateness: 2m
        aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
        output: e2e-minute
      - name: ten_minutes
        window: {size: 10m, slide: 1m}
        allowed_lateness: 2m
        aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
        output: e2e-ten-minutes
    triggers:
      - {name: faulty_sensor, when: temperature > 60 or temperature < -20, output: e2e-alerts}
      - {name: hot_spell, on: ten_minutes, when: max > 60, output: e2e-alerts}
    late: {output: e2e-late}

    """

let endToEndOutputTopics = ["e2e-minute", "e2e-ten-minutes", "e2e-alerts"]

/// An embedded broker with the end-to-end app's input and output topics, 4 partitions each.
func endToEndBroker(extraTopics: [String] = []) throws -> EmbeddedKafkaBroker {
    let broker = try EmbeddedKafkaBroker(brokers: 1)
    for topic in ["readings"] + endToEndOutputTopics + ["e2e-late"] + extraTopics {
        try broker.createTopic(topic, partitions: 4)
    }
    return broker
}

/// What most end-to-end tests start from: simulated readings, the end-to-end app in
/// `apps/e2e.yaml` of a scratch directory, and an embedded broker with the app's topics
/// (and `extraTopics`) holding the first `sent` readings on its input topic.
struct EndToEndFixture {
    let scratch: ScratchDirectory
    let broker: EmbeddedKafkaBroker
    let readings: [String]

    init(_ name: String, count: Int = 20_000, sent: Int? = nil, extraTopics: [String] = []) throws {
        scratch = try ScratchDirectory(name)
        readings = try simulateReadings(into: scratch, count: count)
        try scratch.write("apps/e2e.yaml", endToEndApp)
        broker = try endToEndBroker(extraTopics: extraTopics)
        let producer = try TestProducer(bootstrap: broker.bootstrapServers)
        try producer.sendReadings(readings.prefix(sent ?? count), topic: "readings")
        try producer.finish()
    }

    func tearDown() {
        broker.stop()
        scratch.remove()
    }
}

/// Simulated readings: 50 devices over about 2.8 hours of event time, so that a few
/// intermittent devices have an outage and backfill (some of it too late for 2m).
func simulateReadings(into scratch: ScratchDirectory, count: Int = 20_000) throws -> [String] {
    let simulated = try runTool([
        "simulate", "--output", scratch.path("readings.jsonl"), "--count", "\(count)", "--devices", "50",
        "--rate", "2", "--seed", "7", "--start", "2026-11-28T00:00:00Z", "--delays", "realistic", "--fast",
    ])
    try #require(simulated.status == 0, "simulate failed: \(simulated.stderr)")
    let lines = try scratch.lines("readings.jsonl")
    try #require(lines.count == count)
    return lines
}

/// `tidemark batch` with `app` over `input` (both in `scratch`).
func batchReference(app: String, input: String, in scratch: ScratchDirectory) throws -> (outputs: Outputs, late: [BatchLateLine]) {
    let name = URL(fileURLWithPath: app).deletingPathExtension().lastPathComponent
    let batch = try runTool([
        "batch", "--app", scratch.path(app), "--input", scratch.path(input),
        "--output", scratch.path("batch-\(name).jsonl"), "--late", scratch.path("batch-\(name)-late.jsonl"),
    ])
    try #require(batch.status == 0, "batch failed: \(batch.stderr)")
    return (
        try Outputs(scratch.lines("batch-\(name).jsonl")),
        try scratch.lines("batch-\(name)-late.jsonl").map(BatchLateLine.init)
    )
}

/// Run's outputs and late records for one app against `tidemark batch` with the same app
/// file over the same readings: final revisions, trigger events, late records, keys.
/// - Parameter outOfOrder: the app's out_of_order in milliseconds, to tell which windows
///   run must have closed.
/// - Parameter sessions: the app's windows are sessions, which late data can reopen.
/// - Parameter exercisesLateness: also require that some window was revised and some
///   reading was too late, so the comparison covers lateness.
/// - Parameter closesEverything: the run closed every window at the end of its input, as
///   batch does (`tidemark replay`).
func expectRunOutputs(
    _ topics: [String: [ReadMessage]], outputTopics: [String], lateTopic: String,
    matchBatchOf app: String, over input: String, in scratch: ScratchDirectory,
    outOfOrder: Int64 = 10_000, sessions: Bool = false, exercisesLateness: Bool = true, restarted: Bool = false,
    closesEverything: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let (batch, batchLate) = try batchReference(app: app, input: input, in: scratch)
    let produced = outputTopics.flatMap { topics[$0, default: []] }
    let run = try Outputs(produced.compactMap(\.valueText))

    // A result is keyed by its window (so a compacted topic keeps each window's newest
    // revision), a trigger event by its device; either goes to its device's partition under
    // Kafka's default partitioner.
    let misKeyed = try produced.filter { message in
        let device: String
        switch try OutputRecord(message.valueText ?? "") {
        case .result(let window, _, _, _, _):
            let key = #"{"app":"\#(window.app)","series":"\#(window.series)","device":"\#(window.device)","start":\#(window.start)}"#
            guard message.keyText == key else { return true }
            device = window.device
        case .trigger(_, let window?, _):
            guard message.keyText == window.device else { return true }
            device = window.device
        case .trigger(_, nil, let json):
            guard let key = message.keyText, json.contains(#""device":"\#(key)""#) else { return true }
            device = key
        }
        var bytes = device
        return message.partition != bytes.withUTF8 { KafkaPartitioner.murmur2(UnsafeRawBufferPointer($0), partitions: 4) }
    }
    #expect(misKeyed.isEmpty, "outputs keyed or placed otherwise: \(misKeyed.prefix(3))", sourceLocation: sourceLocation)

    // Without idle flushes a window closes only when its device's watermark passes its end;
    // batch closes the rest at the end of the input. So the windows run must have closed
    // are those ending at or before the device's latest reading minus out_of_order.
    let latest = try latestEventTimes(in: scratch.lines(input))
    let closed = Set(
        batch.ends.filter { window, end in closesEverything || end <= latest[window.device, default: .min] - outOfOrder }.keys)
    if exercisesLateness {
        // Revisions are coalesced: a window whose records all came late is emitted once, as a
        // revision above 0, so a revision above 0 is what shows late data applied.
        #expect(run.revisions.values.contains { $0.contains { $0.revision > 0 } }, "no window was revised by late data", sourceLocation: sourceLocation)
        #expect(!batchLate.isEmpty, "no reading was too late", sourceLocation: sourceLocation)
    }
    expectRunMatchesBatch(run: run, batch: batch, closed: closed, sessions: sessions, restarted: restarted, sourceLocation: sourceLocation)

    // After restarts a late record read again is routed again: every one is there, none other.
    let late = topics[lateTopic, default: []]
    let lateValues = restarted ? Array(Set(late.compactMap(\.valueText))) : late.compactMap(\.valueText)
    let batchLateValues = batchLate.map(\.value)
    #expect(batchLate.allSatisfy { $0.reason == "too-late" && $0.error == nil }, sourceLocation: sourceLocation)
    #expect(
        lateValues.sorted() == batchLateValues.sorted(),
        "late only in run: \(multisetDifference(lateValues, batchLateValues).prefix(3)); only in batch: \(multisetDifference(batchLateValues, lateValues).prefix(3))",
        sourceLocation: sourceLocation)
    #expect(late.allSatisfy { $0.headers == ["tidemark-reason": "too-late"] }, "\(late.prefix(3))", sourceLocation: sourceLocation)
    #expect(late.allSatisfy { $0.keyText != nil && $0.keyText == deviceField(of: $0.valueText ?? "") }, sourceLocation: sourceLocation)
}

/// Waits until `service` has read all `readings`, stops it (exit 0, nothing logged at warning
/// or above), and checks the end-to-end app's outputs against batch.
func expectCleanRunOfEndToEndApp(
    _ service: RunningService, readings: Int, broker: EmbeddedKafkaBroker, scratch: ScratchDirectory,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    try service.waitForRecordsIn(app: "e2e", readings)
    #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))", sourceLocation: sourceLocation)
    #expect(service.problemsLogged.isEmpty, "\(service.problemsLogged)", sourceLocation: sourceLocation)
    let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
    try expectEndToEndOutputs(topics, in: scratch, sourceLocation: sourceLocation)
}

/// Per device, the latest event time among JSON readings.
func latestEventTimes(in lines: [String]) throws -> [String: Int64] {
    var latest: [String: Int64] = [:]
    for line in lines {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let device = object["device"] as? String, let time = (object["ts"] as? NSNumber)?.int64Value
        else { continue }
        latest[device] = max(latest[device] ?? .min, time)
    }
    return latest
}

/// The end-to-end app's outputs against batch over all the simulated readings.
func expectEndToEndOutputs(
    _ topics: [String: [ReadMessage]], in scratch: ScratchDirectory, exercisesLateness: Bool = true, restarted: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    try expectRunOutputs(
        topics, outputTopics: endToEndOutputTopics, lateTopic: "e2e-late", matchBatchOf: "apps/e2e.yaml",
        over: "readings.jsonl", in: scratch, exercisesLateness: exercisesLateness, restarted: restarted,
        sourceLocation: sourceLocation)
}

extension TidemarkCommandLine {
    @Suite("tidemark run end to end")
    struct RunEndToEnd {
        @Test(
            "the final revision of every window run emits equals batch's over the same readings",
            arguments: [1, 2, 3])
        func runEqualsBatch(shards: Int) throws {
            let fixture = try EndToEndFixture("run-e2e")
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)

            // Four partitions over 1, 2 or 3 shards: a device stays on one shard either way.
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: ["--shards", "\(shards)"])
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            #expect(service.recordsIn(app: "e2e") == readings.count)
            // Once a checkpoint covers everything read, a crash would read nothing again.
            let changelogLag = #"tidemark_changelog_lag_records{app="e2e"}"#
            try waitUntil("changelog lag 0: \(service.sample(changelogLag) ?? "nil")", within: .seconds(30)) {
                service.sample(changelogLag) == "0.0"
            }
            #expect(httpGet(port: service.metricsPort, path: "/health")?.body == #"{"status":"ok","detail":"running"}"# + "\n")
            #expect(try service.stop() == 0, "tidemark run did not exit 0 on SIGTERM: \(service.tool.stderr.text.suffix(2000))")
            #expect(service.problemsLogged.isEmpty)
            // The drain committed everything it read.
            let offsets = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers)
            #expect(offsets.committed == offsets.ends)

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch)
        }
    }
}

extension TidemarkCommandLine.RunEndToEnd {
    @Test("metrics served beyond loopback are said to be, in the log")
    func metricsBeyondLoopbackAreWarnedAbout() throws {
        let scratch = try ScratchDirectory("metrics-exposed")
        defer { scratch.remove() }
        try scratch.write("apps/e2e.yaml", endToEndApp)
        let broker = try endToEndBroker()
        defer { broker.stop() }
        let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", metricsHost: "0.0.0.0")
        defer { service.tool.kill() }
        let warning = "/metrics and /health are served beyond loopback: anyone who reaches this address can read them"
        try waitUntil("the warning; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(30)) {
            service.tool.stderr.text.contains(warning)
        }
        #expect(service.problemsLogged.count == 1 && service.problemsLogged[0].contains("warning") && service.problemsLogged[0].contains(warning))
        #expect(service.health == #"{"status":"ok","detail":"running"}"# + "\n")
        #expect(try service.stop() == 0)
    }
}

extension TidemarkCommandLine.RunEndToEnd {
    @Test("with a 1 MiB prefetch budget over 64 input partitions, every window still equals batch's")
    func smallPrefetchBudgetEqualsBatch() throws {
        let scratch = try ScratchDirectory("prefetch-budget")
        defer { scratch.remove() }
        let readings = try simulateReadings(into: scratch)
        try scratch.write("apps/e2e.yaml", endToEndApp)
        let broker = try EmbeddedKafkaBroker(brokers: 1)
        defer { broker.stop() }
        try broker.createTopic("readings", partitions: 64)
        for topic in endToEndOutputTopics + ["e2e-late"] { try broker.createTopic(topic, partitions: 4) }
        let producer = try TestProducer(bootstrap: broker.bootstrapServers)
        try producer.sendReadings(readings, topic: "readings")
        try producer.finish()

        // 16 KiB a partition: the budget, not librdkafka's bounds, paces the fetches.
        let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: ["--prefetch-budget", "1MiB"])
        defer { service.tool.kill() }
        try expectCleanRunOfEndToEndApp(service, readings: readings.count, broker: broker, scratch: scratch)
    }

    @Test("run refuses a prefetch budget under 1 MiB, over librdkafka's 2047 MiB, or not a size")
    func badPrefetchBudgetIsRefused() throws {
        for (value, message) in [
            ("512KiB", "Error: --prefetch-budget must be at least 1MiB"),
            ("4GiB", "Error: --prefetch-budget must be at most 2047MiB"),
            ("lots", "Error: The value 'lots' is invalid for '--prefetch-budget <size>'"),
        ] {
            let run = try runTool(["run", "--brokers", "127.0.0.1:9", "--apps", "apps", "--prefetch-budget", value])
            #expect(run.status == 64, "\(run.stderr)")
            #expect(run.stderr.hasPrefix(message), "\(run.stderr)")
        }
    }
}
