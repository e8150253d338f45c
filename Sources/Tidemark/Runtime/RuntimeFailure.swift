// Why `tidemark run` could not go on. Each kind of failure decides what the wind-down after it
// may still do; the consumer loop's `fail` turns it into `/health`, the metrics and a log line,
// and the command line into its exit message.

/// Why `tidemark run` could not go on.
package enum RuntimeFailure: Error, CustomStringConvertible, Equatable {
    /// Changelog topics missing, or not creatable, at start.
    case changelogs([String])
    /// An output or changelog record the broker refused for good, or a producer that failed.
    case delivery(String)
    /// Exactly once: a shard's transaction failed for good; fenced, another instance took its
    /// transactional id over (and the broker aborted the transaction already).
    case transaction(shard: Int, String, fenced: Bool)
    /// Exactly once: transactions keep being aborted, or cannot be.
    case transactionsAborting(String)
    /// A partition's state could not be restored from its changelog.
    case restore(partition: String, String)
    /// Trouble a restart may mend lasted past the unhealthy bound.
    case unhealthy(seconds: Int64, String)
    /// The cluster behind the bootstrap servers is another than the one the offsets belong to.
    case clusterChanged(from: String, to: String)
    /// A partition ends before offsets already read: truncated, or made anew.
    case partitionRewound(partition: String, readUpTo: Int64, endsAt: Int64)
    /// The drain ran out of time with these steps unfinished.
    case drainUnfinished(timeout: Duration, undone: [String])

    package var description: String {
        switch self {
        case .changelogs(let problems): problems.joined(separator: "\n")
        case .delivery(let reason): reason
        case .transaction(let shard, let error, _): "transaction of shard \(shard) failed for good: \(error)"
        case .transactionsAborting(let reason): reason
        case .restore(let partition, let error): "cannot restore \(partition): \(error)"
        case .unhealthy(let seconds, let trouble): "degraded for longer than \(seconds) s: \(trouble)"
        case .clusterChanged(let from, let to):
            "the cluster changed from \(from) to \(to) under this process: its offsets and states belong to \(from); stopping without committing to \(to)"
        case .partitionRewound(let partition, let readUpTo, let endsAt):
            "\(partition) was read up to offset \(readUpTo), but now ends before it (at \(endsAt)): the partition was truncated or made anew, "
                + "and its offsets mean other records than the states cover"
        case .drainUnfinished(let timeout, let undone):
            "the drain (at most \(timeout)) left work undone: \(undone.joined(separator: "; ")); the next run reads again from the last committed offsets"
        }
    }

    /// Whether the output side failed (counted in `tidemark_delivery_failures_total`).
    var isDelivery: Bool {
        switch self {
        case .delivery, .transaction, .transactionsAborting: true
        default: false
        }
    }

    /// Whether what precedes the failure may still be delivered and committed: not into a
    /// cluster, or a partition, whose offsets mean other records than the states cover.
    var mayCommit: Bool {
        switch self {
        case .clusterChanged, .partitionRewound: false
        default: true
        }
    }

    /// Exactly once: whether the open transactions are to be aborted (a fenced producer cannot:
    /// the broker aborted its transaction already).
    var abortsTransactions: Bool {
        switch self {
        case .transaction(_, _, let fenced): !fenced
        default: mayCommit
        }
    }
}
