// `tidemark run` against an embedded broker, checked record for record against
// `tidemark batch` over the same readings: the central promise of the design.
import Foundation
import Kafka
import Testing

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

/// `tidemark batch` with the end-to-end app over the simulated readings.
func batchReference(in scratch: ScratchDirectory) throws -> (outputs: Outputs, late: [BatchLateLine]) {
    let batch = try runTool([
        "batch", "--app", scratch.path("apps/e2e.yaml"), "--input", scratch.path("readings.jsonl"),
        "--output", scratch.path("batch.jsonl"), "--late", scratch.path("batch-late.jsonl"),
    ])
    try #require(batch.status == 0, "batch failed: \(batch.stderr)")
    return (try Outputs(scratch.lines("batch.jsonl")), try scratch.lines("batch-late.jsonl").map(BatchLateLine.init))
}

/// Run's outputs and late records against batch's: final revisions, triggers, late records.
func expectRunOutputs(
    _ topics: [String: [ReadMessage]], matchBatchIn scratch: ScratchDirectory,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let (batch, batchLate) = try batchReference(in: scratch)
    let produced = endToEndOutputTopics.flatMap { topics[$0, default: []] }
    let run = try Outputs(produced.compactMap(\.valueText))

    // Every output is keyed by the device it is about.
    let misKeyed = try produced.filter { message in
        switch try OutputRecord(message.valueText ?? "") {
        case .result(let window, _, _), .trigger(_, let window?, _): message.keyText != window.device
        case .trigger(_, nil, let json): message.keyText.map { !json.contains(#""device":"\#($0)""#) } ?? true
        }
    }
    #expect(misKeyed.isEmpty, "outputs keyed by something else than their device: \(misKeyed.prefix(3))", sourceLocation: sourceLocation)

    // The test means something only if windows closed, were revised, and records were too late.
    #expect(run.revisions.count > batch.revisions.count * 9 / 10, "run closed \(run.revisions.count) of \(batch.revisions.count) windows", sourceLocation: sourceLocation)
    #expect(run.revisions.values.contains { $0.count > 1 }, "no window was revised by late data", sourceLocation: sourceLocation)
    #expect(!batchLate.isEmpty, "no reading was too late", sourceLocation: sourceLocation)
    expectRunMatchesBatch(run: run, batch: batch, sourceLocation: sourceLocation)

    let late = topics["e2e-late", default: []]
    let lateValues = late.compactMap(\.valueText)
    let batchLateValues = batchLate.map(\.value)
    #expect(batchLate.allSatisfy { $0.reason == "too-late" && $0.error == nil }, sourceLocation: sourceLocation)
    #expect(
        lateValues.sorted() == batchLateValues.sorted(),
        "late only in run: \(multisetDifference(lateValues, batchLateValues).prefix(3)); only in batch: \(multisetDifference(batchLateValues, lateValues).prefix(3))",
        sourceLocation: sourceLocation)
    #expect(late.allSatisfy { $0.headers == ["tidemark-reason": "too-late"] }, "\(late.prefix(3))", sourceLocation: sourceLocation)
    #expect(late.allSatisfy { $0.keyText != nil && $0.keyText == deviceField(of: $0.valueText ?? "") }, sourceLocation: sourceLocation)
}

extension TidemarkCommandLine {
    @Suite("tidemark run end to end")
    struct RunEndToEnd {
        @Test("the final revision of every window run emits equals batch's over the same readings")
        func runEqualsBatch() throws {
            let scratch = try ScratchDirectory("run-e2e")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)

            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            try broker.createTopic("readings", partitions: 4)
            for topic in endToEndOutputTopics + ["e2e-late"] { try broker.createTopic(topic, partitions: 4) }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            let service = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            #expect(try service.stop() == 0, "tidemark run did not exit 0 on SIGTERM: \(service.tool.stderr.text.suffix(2000))")

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectRunOutputs(topics, matchBatchIn: scratch)
        }
    }
}
