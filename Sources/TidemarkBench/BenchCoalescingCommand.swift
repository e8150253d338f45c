// `tidemark-bench coalescing`: output records per input record while devices backfill hours
// of readings after outages, with revisions coalesced per batch (as `tidemark run` emits them,
// once per window per poll) and without (a revision per late record, as before).
import ArgumentParser
import Foundation
import Tidemark

struct BenchCoalescingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coalescing",
        abstract: "Output records per input record during outage backfills, with and without coalesced revisions.",
        discussion: "The thermostat example app (a 30-minute window sliding by the minute, 6 hours of lateness) over simulated readings with realistic delays.")

    @Option(help: "Readings.")
    var records = 200_000

    @Option(help: "Devices.")
    var devices = 100

    @Option(help: "Readings per second, all devices together (10: about 5.5 hours of event time, long enough for outages).")
    var rate: Double = 10

    func run() throws {
        let directory = try BenchSupport.scratchDirectory("bench-coalescing")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/readings.jsonl"
        var simulator = ReadingSimulator(devices: devices, rate: rate, start: 1_764_288_000_000, seed: 42, delays: .realistic)
        var text: [UInt8] = []
        for _ in 0 ..< records {
            ReadingSimulator.appendJSON(simulator.next(), to: &text)
            text.append(UInt8(ascii: "\n"))
        }
        try Data(text).write(to: URL(fileURLWithPath: input))
        let app = try AppLoader.loadFile(BenchSupport.repositoryFile("apps/thermostat.yaml"))
        print("\(records) readings of \(devices) devices with realistic delays (outages then backfills), app thermostat")
        for (label, lines) in [("a revision per late record", 1), ("coalesced, batches of \(BatchRun.linesPerBatch)", BatchRun.linesPerBatch)] {
            let output = directory + "/results-\(lines).jsonl"
            let summary = try BatchRun.run(app: app, input: input, output: output, late: nil, linesPerBatch: lines)
            let results = summary.counts.resultsOut
            let revisions = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
                .filter { !$0.contains(#""revision":0,"#) && !$0.contains(#""trigger""#) }.count
            print(
                "\(label): \(results) results, \(BenchSupport.format(Double(results) / Double(records), 3)) per input record, "
                    + "\(revisions) of them revisions")
        }
    }
}
