// `tidemark bench decode`: generates a file of realistic readings and measures how fast
// the record decoder extracts device, time and fields from it (release builds only).
import ArgumentParser
import Foundation
import Tidemark

struct BenchDecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Measure JSON record decoding: records/s and MB/s over generated readings.")

    @Option(help: "Number of readings to generate.")
    var records = 1_000_000

    @Option(help: "Where to write the generated readings (JSON lines); kept for comparisons.")
    var file = "/tmp/tidemark-readings.jsonl"

    @Option(help: "Timed passes over the file; the best is reported.")
    var passes = 3

    @Flag(help: "Also collect each record's other members (what record triggers need).")
    var members = false

    @Flag(help: "Also read a nested field, status.door (the decoder descends into status).")
    var nested = false

    func run() async throws {
        let data = Self.generateReadings(count: records)
        try Data(data).write(to: URL(fileURLWithPath: file))
        print("generated \(records) readings, \(data.count) bytes, in \(file)")

        let schema = RecordSchema(
            deviceField: "device", timeField: "ts",
            numericFields: ["temperature", "humidity"] + (nested ? ["status.door"] : []), strictNumericSlots: [0, 1])
        var decoder = RecordDecoder(schema: schema, collectsOtherMembers: members)
        var best = Double.infinity
        var checksum = 0.0
        var failures = 0
        for _ in 0..<max(passes, 1) {
            let clock = ContinuousClock()
            var decoded = 0
            checksum = 0
            failures = 0
            let elapsed = clock.measure {
                data.withUnsafeBytes { all in
                    var start = 0
                    while start < all.count {
                        let rest = UnsafeRawBufferPointer(rebasing: all[start...])
                        let newline = memchr(rest.baseAddress!, 0x0A, rest.count)
                        let length = newline.map { UnsafeRawPointer($0) - rest.baseAddress! } ?? rest.count
                        let line = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                        if decoder.decode(value: line) == nil {
                            checksum += decoder.numbers[0] + Double(decoder.time & 0xFF) + Double(decoder.device.count)
                            decoded += 1
                        } else {
                            failures += 1
                        }
                        start += length + 1
                    }
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            best = min(best, seconds)
            precondition(decoded + failures == records)
        }
        let recordsPerSecond = Double(records) / best
        let megabytesPerSecond = Double(data.count) / best / 1e6
        print(
            "decode: \(records) records in \(String(format: "%.3f", best)) s: "
                + "\(String(format: "%.2f", recordsPerSecond / 1e6)) M records/s, "
                + "\(String(format: "%.0f", megabytesPerSecond)) MB/s "
                + "(failures \(failures), checksum \(String(format: "%.3f", checksum)))")
    }

    /// Readings like a fleet of thermostats sends: ids, epoch-ms times, a few measurements
    /// with two decimals, a nested status object, a firmware string. Deterministic.
    static func generateReadings(count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        func hundredths(_ value: UInt64) -> String {
            let fraction = value % 100
            return "\(value / 100).\(fraction < 10 ? "0" : "")\(fraction)"
        }
        var out: [UInt8] = []
        out.reserveCapacity(count * 150)
        var time: Int64 = 1_764_288_000_000
        for index in 0..<count {
            time += Int64(next() % 50)
            let device = String(format: "dev-%06d", Int(next() % 10_000))
            let temperature = hundredths(1_500 + next() % 2_000)
            let humidity = hundredths(3_000 + next() % 4_000)
            let battery = hundredths(300 + next() % 120)
            let rssi = -40 - Int(next() % 60)
            var line = #"{"device":"\#(device)","ts":\#(time),"temperature":\#(temperature),"humidity":\#(humidity),"#
            line += #""battery":\#(battery),"rssi":\#(rssi),"status":{"door":\#(index % 7 == 0),"mode":"heat"},"fw":"1.4.2"}"#
            out.append(contentsOf: line.utf8)
            out.append(0x0A)
        }
        return out
    }
}
