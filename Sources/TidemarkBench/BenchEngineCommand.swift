// `tidemark bench engine`: records per second through the windowing engine on one core, on
// pre-decoded readings (decoding is `bench decode`'s business), tumbling versus hopping.
import ArgumentParser
import Foundation
import Streaming
import Tidemark

struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure the windowing engine: tumbling 1m vs hopping 30m/1m, mean/max/count.")

    @Option(help: "Readings to process per run.")
    var records = 40_000_000

    @Option(help: "Event time, in minutes, processed before the clock starts: until then a 30m hopping series is still growing its state (a one-time cost, reported apart).")
    var warmUp: Int64 = 31

    @Option(help: "Distinct devices; readings interleave round-robin.")
    var devices = 10_000

    @Option(help: "Event-time step between a device's readings, in milliseconds.")
    var interval: Int64 = 1_000

    @Option(help: "Rounds of measurement (tumbling then hopping each round); medians are reported.")
    var runs = 1

    @Option(help: "Which windows to measure: both, tumbling or hopping (one alone is for profilers).")
    var window: Which = .both

    enum Which: String, ExpressibleByArgument {
        case both, tumbling, hopping
    }

    @Option(help: "Instead of throughput: create this many empty engines of the thermostat shape and report memory and idle advance cost per engine.")
    var emptyEngines = 0

    func run() throws {
        if emptyEngines > 0 { return try measureEmptyEngines(emptyEngines) }
        let (times, values) = generate()
        let runs = max(1, self.runs), which = self.window
        let warmUpRecords = min(records, Int(warmUp * 60_000 / interval) * devices)
        print("engine bench: \(records) readings, \(devices) devices, one every \(interval) ms per device (±25% jitter)")
        print("  timed: the \(records - warmUpRecords) readings after the first \(warmUp) minutes of event time (the steady state);")
        print("  from empty: all readings plus the flush of every open window at the end of input")
        var tumblingRates: [Double] = [], hoppingRates: [Double] = [], ratios: [Double] = [], fromEmptyRatios: [Double] = []
        for _ in 0 ..< runs {
            var tumbling: Measurement?, hopping: Measurement?
            if which != .hopping {
                let result = try measure(window: .tumbling(size: 60_000), times: times, values: values, warmUpRecords: warmUpRecords)
                print(result.line("tumbling 1m   "))
                tumbling = result
                tumblingRates.append(result.rate)
            }
            if which != .tumbling {
                let result = try measure(
                    window: .hopping(size: 30 * 60_000, slide: 60_000), times: times, values: values, warmUpRecords: warmUpRecords)
                print(result.line("hopping 30m/1m"))
                hopping = result
                hoppingRates.append(result.rate)
            }
            if let tumbling, let hopping {
                ratios.append(tumbling.rate / hopping.rate)
                fromEmptyRatios.append(tumbling.fromEmpty / hopping.fromEmpty)
                print(String(format: "  hopping cost / tumbling cost: %.2fx (from empty %.2fx)", ratios.last!, fromEmptyRatios.last!))
            }
        }
        guard runs > 1 else { return }
        print("medians over \(runs) runs:")
        if !tumblingRates.isEmpty { print(String(format: "  tumbling 1m        %6.2f M records/s", BenchSupport.median(tumblingRates) / 1e6)) }
        if !hoppingRates.isEmpty { print(String(format: "  hopping 30m/1m     %6.2f M records/s", BenchSupport.median(hoppingRates) / 1e6)) }
        if !ratios.isEmpty {
            print(String(format: "  hopping cost / tumbling cost: %.2fx (from empty %.2fx; medians of per-run ratios)", BenchSupport.median(ratios), BenchSupport.median(fromEmptyRatios)))
        }
    }

    struct Measurement {
        /// Records per second after the warm-up.
        var rate: Double
        /// Records per second over all records, the final flush included.
        var fromEmpty: Double
        var emitted: Int

        func line(_ name: String) -> String {
            String(format: "  %@     %6.2f M records/s  (from empty %5.2f M/s; %d windows emitted)", name, rate / 1e6, fromEmpty / 1e6, emitted)
        }
    }

    /// Per device increasing event times with jitter, interleaved so each device's stream
    /// is slightly out of order (within the watermark's bound).
    private func generate() -> (times: [Int64], values: [Double]) {
        // Options read once: their property wrappers are slow to read in a loop.
        let records = self.records, devices = self.devices, interval = self.interval
        var rng = SplitMix64(seed: 42)
        var times = [Int64](repeating: 0, count: records)
        var values = [Double](repeating: 0, count: records)
        let base: Int64 = 1_764_288_000_000
        for i in 0 ..< records {
            let device = i % devices
            let step = Int64(i / devices)
            let jitter = Int64(rng.next() % UInt64(interval / 2 + 1)) - interval / 4
            times[i] = base + Int64(device) * 7 + step * interval + jitter
            values[i] = 20 + Double(rng.next() % 1000) / 100
        }
        return (times, values)
    }

    private func measure(window: WindowSpec, times: [Int64], values: [Double], warmUpRecords: Int) throws -> Measurement {
        let spec = SeriesSpec(
            name: "bench", window: window, allowedLateness: 60_000,
            aggregates: [
                AggregateSpec(name: "mean", function: .mean, field: 0),
                AggregateSpec(name: "max", function: .max, field: 0),
                AggregateSpec(name: "count", function: .count, field: nil),
            ])
        let engine = try WindowEngine(
            series: [spec], watermark: WatermarkSpec(scope: .device, outOfOrder: interval), fieldCount: 1)
        var sink = DiscardingSink()
        let devices = Int32(self.devices)
        func process(_ range: Range<Int>) {
            values.withUnsafeBufferPointer { values in
                times.withUnsafeBufferPointer { times in
                    var device = Int32(range.lowerBound % Int(devices))
                    for i in range {
                        let reading = Reading(
                            device: DeviceID(device), time: times[i], partition: 0,
                            fields: UnsafeBufferPointer(rebasing: values[i ..< i + 1]))
                        _ = engine.process(reading, now: 0, into: &sink)
                        device += 1
                        if device == devices { device = 0 }
                    }
                }
            }
        }
        let clock = ContinuousClock()
        let started = clock.now
        process(0 ..< warmUpRecords)
        let warm = clock.now
        process(warmUpRecords ..< times.count)
        let steady = clock.now - warm
        engine.closeAll(into: &sink)
        let total = clock.now - started
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        return Measurement(
            rate: Double(times.count - warmUpRecords) / seconds(steady), fromEmpty: Double(times.count) / seconds(total), emitted: sink.count)
    }
}

extension BenchEngineCommand {
    /// What `tidemark run` pays per hosted app before any data: the engine's memory and the
    /// cost of the periodic `advance` when nothing is due.
    private func measureEmptyEngines(_ count: Int) throws {
        // The thermostat app: hopping 30m/1m mean/max/count, out_of_order 10s, idle 2m.
        let spec = SeriesSpec(
            name: "mean_temperature", window: .hopping(size: 30 * 60_000, slide: 60_000), allowedLateness: 6 * 3_600_000,
            aggregates: [
                AggregateSpec(name: "mean", function: .mean, field: 0),
                AggregateSpec(name: "max", function: .max, field: 0),
                AggregateSpec(name: "count", function: .count, field: nil),
            ])
        let watermark = WatermarkSpec(scope: .device, outOfOrder: 10_000, idle: 120_000)
        let before = residentBytes()
        var engines: [WindowEngine] = []
        engines.reserveCapacity(count)
        for _ in 0 ..< count { engines.append(try WindowEngine(series: [spec], watermark: watermark, fieldCount: 1)) }
        let after = residentBytes()
        print("\(count) empty engines (hopping 30m/1m mean/max/count, out_of_order 10s, idle 2m):")
        print(String(format: "  resident memory: +%.1f MB, %.0f bytes per engine", Double(after - before) / 1e6, Double(after - before) / Double(count)))

        var sink = DiscardingSink()
        let rounds = 1_000
        let clock = ContinuousClock()
        let started = clock.now
        for round in 0 ..< rounds {
            for engine in engines { engine.advance(processingTime: Int64(round) * 100, into: &sink) }
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "  advance with nothing due: %.1f ns per engine per call", seconds * 1e9 / Double(rounds * count)))
        withExtendedLifetime(engines) {}
    }

    /// Resident set size from /proc/self/statm (Linux), 0 elsewhere.
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
