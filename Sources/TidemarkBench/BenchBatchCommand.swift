// `tidemark batch` end to end on a generated file: reading, JSON decoding, windows,
// encoding and writing, in records per second.
import ArgumentParser
import Foundation
import Tidemark

struct BenchBatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Time tidemark batch over a generated file of readings.",
        discussion: "One app: tumbling 1-minute mean/max/count per device. The file is generated before timing.")

    @Option(help: "Lines in the generated file.")
    var records = 1_000_000

    @Option(help: "Devices sending readings.")
    var devices = 1000

    @Option(help: "Timed runs; the best is reported.")
    var runs = 3

    func run() throws {
        let directory = try BenchSupport.scratchDirectory("bench-batch")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/readings.jsonl"
        var simulator = ReadingSimulator(
            devices: devices, rate: Double(devices), start: 1_764_288_000_000, seed: 1, delays: .realistic)
        var text: [UInt8] = []
        for _ in 0..<records {
            ReadingSimulator.appendJSON(simulator.next(), to: &text)
            text.append(UInt8(ascii: "\n"))
        }
        try Data(text).write(to: URL(fileURLWithPath: input))
        let app = try AppDefinition.parse(
            yaml: """
                app: bench
                input: {topic: readings, device: device, time: ts}
                watermark: {out_of_order: 10s}
                series:
                  - name: minute
                    window: {size: 1m}
                    allowed_lateness: 6h
                    aggregate: {mean: mean(temperature), max: max(temperature), count: count()}
                    output: results
                """, file: "bench.yaml")
        print("\(records) lines of \(devices) devices with realistic delays, \(text.count / records) B each")
        var best = 0.0
        for run in 1...max(1, runs) {
            let started = ContinuousClock.now
            let summary = try BatchRun.run(app: app, input: input, output: directory + "/results.jsonl", late: directory + "/late.jsonl")
            let seconds = BenchSupport.seconds(ContinuousClock.now - started)
            let rate = Double(summary.lines) / seconds
            best = max(best, rate)
            print("run \(run): \(BenchSupport.format(rate)) records/s (\(BenchSupport.format(seconds, 3)) s, \(summary.counts.resultsOut) results, \(summary.counts.late) late)")
        }
        print("best: \(BenchSupport.format(best)) records/s (target >= 1,000,000)")
    }
}
