// The runtime simulation in CI: 1,000 seeds of readings and faults, each checked against
// batch (see TidemarkSimulation). A failure prints its seed and the command that replays it.
import Testing
import TidemarkSimulation

@Suite("runtime simulation")
struct RuntimeSimulationTests {
    /// Seeds 1…1,000, in ten parts the test runner spreads over the cores.
    @Test("every seed's newest results equal batch's, commits never run ahead, drains end in time", arguments: 0..<10)
    func seeds(part: Int) {
        for seed in UInt64(part * 100 + 1)...UInt64(part * 100 + 100) {
            let report = RuntimeSimulation.run(seed: seed)
            #expect(report.passed, "\(report.failureDescription)")
            if !report.passed { return }
        }
    }

    @Test("a seed replays the same schedule and the same outputs")
    func replays() {
        for seed: UInt64 in [7, 8] {
            let first = RuntimeSimulation.run(seed: seed)
            let again = RuntimeSimulation.run(seed: seed)
            #expect(first.story == again.story)
            #expect(first.results == again.results)
            #expect(first.simulatedMillis == again.simulatedMillis)
        }
    }
}

@Suite("runtime simulation's checks")
struct SimulationCheckTests {
    @Test("a producer that acknowledges results it never wrote fails the checks, naming the missing windows")
    func lostResultsAreCaught() {
        let reports = (1...20).map { RuntimeSimulation.run(seed: $0, options: SimulationOptions(sabotage: .acknowledgesLostResults)) }
            // A schedule that ends with a replaced cluster compares no outputs.
            .filter { report in !report.story.contains { $0.contains("the cluster is replaced") } }
        #expect(reports.count > 15)
        for report in reports {
            #expect(report.violations.contains { $0.contains("is missing; batch gives") }, "seed \(report.seed)")
        }
    }

    @Test("a state that takes both copies of a record written twice to the repartition topic fails the checks, naming windows that count it twice")
    func copiesTakenTwiceAreCaught() {
        let sabotaged = SimulationOptions(exactlyOnce: false, repartitions: true, sabotage: .takesEveryOrigin)
        let reports = (1...40).map { RuntimeSimulation.run(seed: $0, options: sabotaged) }
            .filter { report in report.repartitionedTwice > 0 && report.repartitionGaps.isEmpty }
        #expect(reports.count >= 5)
        for report in reports {
            #expect(report.violations.contains { $0.contains(": newest result") }, "seed \(report.seed)")
        }
    }
}
