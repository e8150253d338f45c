// What `/health` reports: whether the service runs, runs with a problem it may recover from,
// is shutting down, or is failing and about to exit.
import Synchronization

/// The health of a running service, set by the consumer loop and read by `/health`.
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
    /// Problems reported apart from the status, by what found them (the app reloader, say),
    /// so that each source sets and clears its own without overwriting the consumer loop's.
    private let conditions = Mutex<[String: String]>([:])

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

    /// Reports a problem found by `source` (e.g. `"apps"`), shown as `degraded` while the
    /// service runs; nil clears it.
    package func setCondition(_ source: String, _ problem: String?) {
        conditions.withLock { $0[source] = problem }
    }

    /// The problems of ``setCondition(_:_:)`` in force, ordered by source.
    package var conditionsInForce: [String] {
        conditions.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
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
        let problems = conditionsInForce
        switch current {
        case .starting where problems.isEmpty: return (true, body("ok", "starting"))
        case .ok where problems.isEmpty: return (true, body("ok", "running"))
        case .starting, .ok: return (true, body("degraded", problems.joined(separator: "; ")))
        case .degraded(let reason): return (true, body("degraded", ([reason] + problems).joined(separator: "; ")))
        // Not ready for work any more: what it holds is about to move to another process.
        case .stopping(let what): return (false, body("stopping", what))
        case .failing(let reason): return (false, body("failing", reason))
        }
    }
}
