// What `/health` reports: whether the service runs, runs with a problem it may recover from,
// is shutting down, or is failing and about to exit.
import Synchronization

/// The health of a running service, set by the pipeline and read by `/health`.
package final class HealthState: Sendable {
    package enum Status: Sendable, Equatable {
        case starting
        case ok
        /// Running, but something needs attention (e.g. no broker connection); may recover.
        case degraded(String)
        /// Shutting down: delivering, checkpointing and committing before it exits.
        case stopping(String)
        /// Cannot go on; the process exits non-zero once it has committed what it can.
        case failing(String)
    }

    private let status = Mutex<Status>(.starting)

    package init() {}

    package var current: Status { status.withLock { $0 } }

    package func set(_ new: Status) {
        status.withLock { status in
            switch (status, new) {
            // Failing is final: nothing after it makes the process healthy again.
            case (.failing, _): return
            // Neither does a broker coming back make a stopping process run again.
            case (.stopping, .ok), (.stopping, .degraded): return
            default: status = new
            }
        }
    }

    /// The `/health` body and whether it is healthy (HTTP 200) or not (503).
    package var report: (healthy: Bool, json: String) {
        func body(_ status: String, _ detail: String) -> String {
            var json: [UInt8] = Array(#"{"status":"#.utf8)
            JSONWriter.appendString(status.utf8, to: &json)
            json.append(contentsOf: #","detail":"#.utf8)
            JSONWriter.appendString(detail.utf8, to: &json)
            json.append(contentsOf: "}\n".utf8)
            return String(decoding: json, as: UTF8.self)
        }
        switch current {
        case .starting: return (true, body("ok", "starting"))
        case .ok: return (true, body("ok", "running"))
        case .degraded(let reason): return (true, body("degraded", reason))
        // Not ready for work any more: what it holds is about to move to another process.
        case .stopping(let what): return (false, body("stopping", what))
        case .failing(let reason): return (false, body("failing", reason))
        }
    }
}
