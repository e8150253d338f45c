// `tidemark-bench simulate`: the runtime simulation over many seeds (CI runs 1,000 in the
// tests), or one seed replayed with the runtime's log. Seeds run on every core.
import ArgumentParser
import Foundation
import Synchronization
import TidemarkSimulation

struct BenchSimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic simulation of the runtime over many seeds, or replay one.")

    @Option(help: "How many seeds to run, from --first.")
    var seeds = 10_000

    @Option(help: "The first seed.")
    var first: UInt64 = 1

    @Option(help: "Replay this one seed (with --verbose, the runtime's log).")
    var seed: UInt64?

    @Flag(help: "Log what the runtime logs.")
    var verbose = false

    @Option(help: "at-least-once or exactly-once; by default each seed chooses.")
    var guarantee: String?

    @Option(help: "device (readings keyed by device) or any (repartitioned); by default each seed chooses.")
    var keys: String?

    @Option(help: "Plant a bug, to see the checks catch it: lost-results or every-origin.")
    var sabotage: String?

    func run() throws {
        var options = SimulationOptions(verbose: verbose)
        switch guarantee {
        case nil: break
        case "at-least-once": options.exactlyOnce = false
        case "exactly-once": options.exactlyOnce = true
        default: throw ValidationError("--guarantee is at-least-once or exactly-once")
        }
        switch keys {
        case nil: break
        case "device": options.repartitions = false
        case "any": options.repartitions = true
        default: throw ValidationError("--keys is device or any")
        }
        switch sabotage {
        case nil: break
        case "lost-results": options.sabotage = .acknowledgesLostResults
        case "every-origin": options.sabotage = .takesEveryOrigin
        default: throw ValidationError("--sabotage is lost-results or every-origin")
        }
        if let seed {
            let report = RuntimeSimulation.run(seed: seed, options: options)
            print(report.passed ? "seed \(seed) passed" : report.failureDescription)
            print(report.story.joined(separator: "\n"))
            print("\(report.readings) readings, \(report.results) results, \(report.simulatedMillis) ms simulated")
            if !report.passed { throw ExitCode(1) }
            return
        }
        let started = ContinuousClock.now
        let failures = Mutex<[SimulationReport]>([])
        // Repartitioned seeds; those with records written twice; those with records written
        // after later ones of their input partition.
        let repartitioned = Atomic<Int>(0)
        let copied = Atomic<Int>(0)
        let gapped = Atomic<Int>(0)
        let simulated = Atomic<Int64>(0)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let (first, seeds, chosen) = (self.first, self.seeds, options)
        DispatchQueue.concurrentPerform(iterations: cores) { worker in
            for index in stride(from: worker, to: seeds, by: cores) {
                let report = RuntimeSimulation.run(seed: first + UInt64(index), options: chosen)
                simulated.add(report.simulatedMillis, ordering: .relaxed)
                if report.repartitions { repartitioned.add(1, ordering: .relaxed) }
                if report.repartitionedTwice > 0 { copied.add(1, ordering: .relaxed) }
                if !report.repartitionGaps.isEmpty { gapped.add(1, ordering: .relaxed) }
                if !report.passed {
                    failures.withLock { $0.append(report) }
                }
            }
        }
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        let failed = failures.withLock { $0.sorted { $0.seed < $1.seed } }
        for report in failed.prefix(3) { print(report.failureDescription) }
        print(String(
            format: "%d seeds (%llu…%llu) on %d cores: %d failed; %.1f s wall, %.0f seeds/s, %.1f h simulated",
            seeds, first, first + UInt64(seeds) - 1, cores, failed.count, seconds, Double(seeds) / seconds,
            Double(simulated.load(ordering: .relaxed)) / 3_600_000))
        print(
            "\(repartitioned.load(ordering: .relaxed)) repartitioned, \(copied.load(ordering: .relaxed)) of them with records written twice, "
                + "\(gapped.load(ordering: .relaxed)) with records written after later ones of their input partition")
        if !failed.isEmpty {
            print("failed seeds: \(failed.map { String($0.seed) }.joined(separator: " "))")
            throw ExitCode(1)
        }
    }
}
