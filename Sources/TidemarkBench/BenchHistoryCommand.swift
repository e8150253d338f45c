// `tidemark-bench history`: comparisons with history at scale. 10,000 devices, an hourly
// series compared with yesterday, last week and the trailing 6 hours, over enough days that
// every device's history is full: the resident memory of the history, and the engine's cost
// per record against the same series without comparisons. Each variant runs in a child
// process of its own, so that neither's memory (or allocator state) shows in the other's.
import ArgumentParser
import Foundation
import Streaming
import Tidemark

struct BenchHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Measure comparisons with history: memory of a full history and cost per record against no comparisons.")

    @Option(help: "Distinct devices; readings interleave round-robin.")
    var devices = 10_000

    @Option(help: "Days of event time (history is full after 7.5 days: last week plus the lateness).")
    var days = 9

    @Option(help: "Seconds of event time between a device's readings; repeat to measure several rates (the cost of a window's comparisons is paid once per window, so it weighs more per record when a window holds fewer readings).")
    var interval: [Int64] = [60, 10]

    @Option(help: "Rounds (each variant once per round, in a fresh process); medians are reported.")
    var runs = 3

    @Option(help: .hidden)
    var variant: Variant?

    enum Variant: String, ExpressibleByArgument, CaseIterable {
        case plain, compare
    }

    static let hour: Int64 = 3_600_000

    func run() throws {
        if let variant { return try measure(variant, interval: interval.first ?? 60) }
        print("history bench: \(devices) devices, \(days) days of event time")
        print("  series: tumbling 1h, mean/max/count, allowed_lateness 12h, out_of_order = the reading interval;")
        print("  compare: yesterday {offset: 1d}, last_week {offset: 7d}, trailing {over: 6h}")
        print("  timed: the readings after the first 7d13h of event time, when every history is full;")
        print("  each variant in a fresh process, alternating, \(max(1, runs)) rounds")
        var summaries: [String] = []
        for interval in interval {
            print("one reading every \(interval) s per device (\(3600 / max(interval, 1)) a window):")
            var figures: [Variant: [Figures]] = [:]
            for round in 0 ..< max(1, runs) {
                for variant in Variant.allCases {
                    let result = try runChild(variant, interval: interval)
                    figures[variant, default: []].append(result)
                    print(String(
                        format: "  round %d %@  %6.1f ns/record  (%.2f M records/s)  resident +%7.1f MB  history in use %6.1f MB",
                        round + 1, variant.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0),
                        result.steadyNanoseconds, 1e3 / result.steadyNanoseconds, Double(result.residentGrowth) / 1e6,
                        Double(result.historyBytes) / 1e6))
                }
            }
            let plain = figures[.plain]!, compare = figures[.compare]!
            let ratios = zip(plain, compare).map { $1.steadyNanoseconds / $0.steadyNanoseconds }
            let history = zip(plain, compare).map { Double($1.residentGrowth - $0.residentGrowth) / 1e6 }
            summaries.append(String(
                format: "  every %3d s: %.1f ns/record without compare, %.1f with: %.2fx (target <= 1.2x); history %.1f MB resident (target <= 100 MB), %.1f MB of blocks",
                interval, BenchSupport.median(plain.map(\.steadyNanoseconds)), BenchSupport.median(compare.map(\.steadyNanoseconds)), BenchSupport.median(ratios),
                BenchSupport.median(history), BenchSupport.median(compare.map { Double($0.historyBytes) / 1e6 })))
        }
        print("medians (history resident: with compare minus without):")
        for summary in summaries { print(summary) }
    }

    struct Figures {
        var steadyNanoseconds: Double
        var residentGrowth: Int
        var historyBytes: Int
    }

    private func runChild(_ variant: Variant, interval: Int64) throws -> Figures {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [
            "history", "--variant", variant.rawValue, "--devices", "\(devices)", "--days", "\(days)", "--interval", "\(interval)",
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("the \(variant) run exited with \(process.terminationStatus)") }
        var values: [String: Double] = [:]
        for field in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace) {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        guard let steady = values["steady_ns_per_record"], let growth = values["resident_growth"], let history = values["history_bytes"]
        else { throw ValidationError("the \(variant) run printed no figures") }
        return Figures(steadyNanoseconds: steady, residentGrowth: Int(growth), historyBytes: Int(history))
    }

    /// One variant in this process: prints `key=value` figures on one line.
    private func measure(_ variant: Variant, interval: Int64) throws {
        let devices = self.devices, step = interval * 1000
        let comparisons =
            variant == .compare
            ? [
                ComparisonSpec(name: "yesterday", reach: .offset(24 * Self.hour)),
                ComparisonSpec(name: "last_week", reach: .offset(7 * 24 * Self.hour)),
                ComparisonSpec(name: "trailing", reach: .over(6 * Self.hour)),
            ] : []
        let spec = SeriesSpec(
            name: "hourly", window: .tumbling(size: Self.hour), allowedLateness: 12 * Self.hour,
            aggregates: [
                AggregateSpec(name: "mean", function: .mean, field: 0),
                AggregateSpec(name: "max", function: .max, field: 0),
                AggregateSpec(name: "count", function: .count, field: nil),
            ],
            comparisons: comparisons)
        let engine = try WindowEngine(
            series: [spec], watermark: WatermarkSpec(scope: .device, outOfOrder: step), fieldCount: 1)
        var sink = DiscardingSink()
        let residentBefore = try ProcessStats.residentMegabytes(pid: getpid())

        let base: Int64 = 1_764_288_000_000
        let steps = Int64(days) * 86_400_000 / step
        // Last week, the lateness and the hour being filled: from then on every history is full.
        let warmSteps = (7 * 24 + 13) * Self.hour / step
        var times = [Int64](repeating: 0, count: devices)
        var values = [Double](repeating: 0, count: devices)
        var rng = SplitMix64(seed: 42)
        let clock = ContinuousClock()
        var steady: Duration = .zero
        var steadyRecords = 0
        for s in 0 ..< steps {
            // Readings for this step, made outside the timed part: the engine alone is measured.
            for d in 0 ..< devices {
                let jitter = Int64(rng.next() % UInt64(step / 2 + 1)) - step / 4
                times[d] = base + s * step + Int64(d) * 7 + jitter
                values[d] = 20 + Double(rng.next() % 1000) / 100
            }
            let started = clock.now
            values.withUnsafeBufferPointer { values in
                for d in 0 ..< devices {
                    let reading = Reading(
                        device: DeviceID(Int32(d)), time: times[d], partition: 0,
                        fields: UnsafeBufferPointer(rebasing: values[d ..< d + 1]))
                    _ = engine.process(reading, now: 0, into: &sink)
                }
            }
            if s >= warmSteps {
                steady += clock.now - started
                steadyRecords += devices
            }
        }
        let residentAfter = try ProcessStats.residentMegabytes(pid: getpid())
        let historyBytes = engine.historyBytes
        engine.closeAll(into: &sink)
        print(
            "variant=\(variant.rawValue) records=\(steps * Int64(devices)) emitted=\(sink.count)",
            "steady_ns_per_record=\(BenchSupport.seconds(steady) * 1e9 / Double(max(steadyRecords, 1)))",
            "resident_growth=\(Int((residentAfter - residentBefore) * 1024 * 1024))",
            "history_bytes=\(historyBytes)")
    }
}
