// A small driver for engine tests: readings by device name, a fake processing clock, and
// emissions rendered as one line each so expectations read like the output stream.
import Streaming

struct EngineHarness {
    var devices = DeviceTable()
    let engine: WindowEngine
    var sink = CollectingSink()
    let specs: [SeriesSpec]
    let fieldCount: Int

    init(_ series: [SeriesSpec], watermark: WatermarkSpec = WatermarkSpec(), fields: Int = 1) throws {
        engine = try WindowEngine(series: series, watermark: watermark, fieldCount: fields)
        specs = series
        fieldCount = fields
    }

    /// Sends one reading; `values` fill the field slots in order (nil: missing).
    @discardableResult
    mutating func send(
        _ device: String, at time: Int64, _ values: Double?..., partition: Int32 = 0, now: Int64 = 0
    ) -> Admission {
        sendValues(device, at: time, values, partition: partition, now: now)
    }

    @discardableResult
    mutating func sendValues(
        _ device: String, at time: Int64, _ values: [Double?], partition: Int32 = 0, now: Int64 = 0
    ) -> Admission {
        let id = devices.intern(device)
        var fields = [Double](repeating: .nan, count: fieldCount)
        for (i, value) in values.enumerated() where i < fieldCount { fields[i] = value ?? .nan }
        return fields.withUnsafeBufferPointer { buffer in
            engine.process(Reading(device: id, time: time, partition: partition, fields: buffer), now: now, into: &sink)
        }
    }

    mutating func advance(to now: Int64) { engine.advance(processingTime: now, into: &sink) }

    /// Ends the batch: late revisions (and `emit: updates` changes) are emitted now.
    mutating func endBatch() { engine.endBatch(into: &sink) }

    /// Every device's encoded state, by name (devices holding nothing are left out).
    func deviceRecords() -> [String: [UInt8]] {
        var records: [String: [UInt8]] = [:]
        for index in 0 ..< devices.count {
            let id = DeviceID(Int32(index))
            var bytes: [UInt8] = []
            if engine.encode(device: id, into: &bytes) { records[devices.name(of: id)] = bytes }
        }
        return records
    }

    mutating func closeAll() { engine.closeAll(into: &sink) }

    /// The emissions since the last call, as `device series [start,end) rN: values`, where `rN`
    /// is an on-time result, `rN early` one emitted before the window closed and `rN late` a
    /// revision after it closed.
    mutating func emitted() -> [String] {
        defer { sink.results.removeAll() }
        return sink.results.map(render)
    }

    func render(_ result: EmittedWindow) -> String {
        let name = devices.name(of: result.device)
        let series = specs.count > 1 ? " \(specs[result.series].name)" : ""
        let revision = "r\(result.revision)" + (result.timing == .onTime ? "" : " \(result.timing.name)")
        if result.isRetraction { return "\(name)\(series) [\(result.start),\(result.end)) \(revision) retracted" }
        func text(_ values: [Double?]) -> String {
            values.map { value in
                guard let value else { return "null" }
                return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
            }.joined(separator: " ")
        }
        // Comparisons follow the aggregates: ` | name: values` each, or ` | name: null`.
        let comparisons = zip(specs[result.series].comparisons, result.comparisons).map { spec, values in
            " | \(spec.name): \(values.map(text) ?? "null")"
        }.joined()
        return "\(name)\(series) [\(result.start),\(result.end)) \(revision): \(text(result.values))\(comparisons)"
    }
}

/// A series over field 0 with count, sum and max: enough to see which records a window holds.
func countSumMax(
    _ name: String = "s", window: WindowSpec, lateness: Int64 = 0, emit: EmitPolicy = .final
) -> SeriesSpec {
    SeriesSpec(
        name: name, window: window, allowedLateness: lateness, emit: emit,
        aggregates: [
            AggregateSpec(name: "count", function: .count, field: nil),
            AggregateSpec(name: "sum", function: .sum, field: 0),
            AggregateSpec(name: "max", function: .max, field: 0),
        ])
}
