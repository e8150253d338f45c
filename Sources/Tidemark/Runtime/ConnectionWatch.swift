// What the consumer loop knows of its footing in the cluster, for `/health`: whether it has
// reached a broker lately, whether it holds partitions, whether its commits go through. An
// idle service hears nothing either way, so silence is not trouble: trouble is librdkafka
// reporting failed connections (while it has none it retries every reconnect backoff and
// reports a failure at least every 30 s, identical ones in between suppressed), no
// assignment for longer than a session, commits refused, or nothing read while records wait.
// All but the lack of an assignment (a standby holds nothing, rightly) are trouble that a
// restart may mend, and the loop fails once one has lasted past its bound.
import Kafka

/// Turns the loop's observations into a health status.
package struct ConnectionWatch {
    /// How long trouble must last before it shows: brief blips are librdkafka's business.
    package let patience: Int64
    /// Failed connections stop being news after this long without another one.
    package let quietAfter: Int64
    private var disconnectedSince: Int64?
    private var lastConnectionError: Int64 = .min
    private var unassignedSince: Int64?
    private var commitsFailingSince: Int64?
    private var lastCommitError = ""
    /// The last records skipped by offset resets (the status names three), for as long as the
    /// process runs: a loss an operator must hear of, which no recovery undoes.
    private var skipped: [String] = []
    private var stalledSince: Int64?
    private var stalledLag: Int64 = 0
    private var lastConsumed = 0

    /// - Parameters:
    ///   - patience: milliseconds (e.g. the session timeout).
    ///   - reconnectBackoff: librdkafka's `reconnect.backoff.max.ms`.
    package init(patience: Int64, reconnectBackoff: Int64) {
        self.patience = patience
        quietAfter = max(35_000, 3 * reconnectBackoff)
    }

    /// Whether the client cannot reach any broker right now (so lags are unknown).
    package func isDisconnected(at now: Int64) -> Bool {
        disconnectedSince != nil && now - lastConnectionError < quietAfter
    }

    /// Notes an error the client reported outside deliveries.
    package mutating func error(_ error: KafkaError, at now: Int64) {
        guard Self.connectionErrors.contains(error.name) else { return }
        if disconnectedSince == nil || now - lastConnectionError >= quietAfter { disconnectedSince = now }
        lastConnectionError = now
    }

    /// Notes proof of a working connection: messages fetched, a delivery or commit acknowledged.
    package mutating func reachedBroker() {
        disconnectedSince = nil
    }

    /// Notes the size of the assignment (while subscribed to something); a new one is proof
    /// of a working connection to the group coordinator.
    package mutating func assignment(isEmpty: Bool, at now: Int64) {
        if !isEmpty {
            reachedBroker()
            unassignedSince = nil
        } else if unassignedSince == nil {
            unassignedSince = now
        }
    }

    /// Notes the outcome of an offset commit.
    package mutating func committed(_ error: KafkaError?, at now: Int64) {
        guard let error else {
            commitsFailingSince = nil
            reachedBroker()
            return
        }
        if commitsFailingSince == nil { commitsFailingSince = now }
        lastCommitError = "\(error.name): \(error.message)"
    }

    /// Notes how far reading has come: `consumed`, the records processed so far, and `lag`,
    /// what waits in the partitions being read (nil: unknown). Reading has stalled while
    /// records wait and the count does not move.
    package mutating func progress(consumed: Int, lag: Int64?, at now: Int64) {
        defer { lastConsumed = consumed }
        guard let lag, lag > 0, consumed == lastConsumed else {
            stalledSince = nil
            return
        }
        if stalledSince == nil { stalledSince = now }
        stalledLag = lag
    }

    /// Notes records that will never be read, e.g. `readings/0 offsets 100..<2000`.
    package mutating func skippedRecords(_ what: String) {
        skipped = Array((skipped + [what]).suffix(3))
    }

    /// `ok`, or `degraded` with every reason that has lasted longer than the patience.
    package func status(at now: Int64) -> HealthState.Status {
        var reasons = troubles(at: now).map(\.reason) + unassigned(at: now)
        if !skipped.isEmpty { reasons.append("records skipped by offset resets: \(skipped.joined(separator: ", "))") }
        return reasons.isEmpty ? .ok : .degraded(reasons.joined(separator: "; "))
    }

    /// The trouble a restart may mend that has lasted at least `bound` milliseconds, if any:
    /// its reasons, for the process to fail with.
    package func persistentTrouble(at now: Int64, bound: Int64) -> String? {
        let lasting = troubles(at: now).filter { now - $0.since >= bound }
        return lasting.isEmpty ? nil : lasting.map(\.reason).joined(separator: "; ")
    }

    private func troubles(at now: Int64) -> [(since: Int64, reason: String)] {
        var troubles: [(since: Int64, reason: String)] = []
        if let since = disconnectedSince, isDisconnected(at: now), now - since >= patience {
            troubles.append((since, "no broker connection for \((now - since) / 1000) s"))
        }
        if let since = commitsFailingSince, now - since >= patience {
            troubles.append((since, "offset commits failing for \((now - since) / 1000) s (\(lastCommitError))"))
        }
        if let since = stalledSince, now - since >= patience {
            troubles.append((since, "nothing read for \((now - since) / 1000) s while \(stalledLag) records wait"))
        }
        return troubles
    }

    private func unassigned(at now: Int64) -> [String] {
        guard let since = unassignedSince, now - since >= patience else { return [] }
        return ["no partitions assigned for \((now - since) / 1000) s"]
    }

    /// librdkafka's names for not reaching brokers.
    private static let connectionErrors: Set<String> = ["_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT"]
}
