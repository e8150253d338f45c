// `tidemark run` as the end-to-end tests drive it: started on an apps directory with a
// metrics port, watched through /metrics, stopped with SIGTERM.
import Foundation
import Testing
import TidemarkTestSupport

/// A `tidemark run` child process with its /metrics port.
struct RunningService {
    let tool: ToolProcess
    let metricsPort: Int

    init(brokers: String, apps: String, group: String, extra: [String] = []) throws {
        metricsPort = try freeLoopbackPort()
        tool = try ToolProcess(
            ["run", "--brokers", brokers, "--apps", apps, "--group", group, "--metrics", "127.0.0.1:\(metricsPort)"] + extra)
    }

    /// `tidemark_records_in_total` of `app`, nil while /metrics does not show it.
    func recordsIn(app: String) -> Int? {
        recordsInMetric(app: app, metricsPort: metricsPort)
    }

    /// Waits until `app` has read `count` records (metrics are published once a second).
    func waitForRecordsIn(app: String, _ count: Int, within limit: Duration = .seconds(90)) throws {
        try waitUntil(
            "records_in of \(app) to reach \(count), at \(recordsIn(app: app).map(String.init) ?? "nil"); stderr: \(tool.stderr.text.suffix(3000))",
            within: limit
        ) {
            guard tool.isRunning else { throw TestFailure(description: "tidemark run exited early: \(tool.stderr.text.suffix(3000))") }
            return (recordsIn(app: app) ?? -1) >= count
        }
    }

    /// Log lines at `warning` or above (the log goes to stderr as `TIMESTAMP LEVEL label: …`).
    var problemsLogged: [String] {
        tool.stderr.lines.filter { line in
            let level = line.split(separator: " ", maxSplits: 2).dropFirst().first
            return ["warning", "error", "critical"].contains(level)
        }
    }

    /// SIGTERM, and the exit status after the drain.
    func stop() throws -> Int32 { try tool.stop(within: .seconds(60)) }
}
