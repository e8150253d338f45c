// When changed states are written and which input offsets the group commits, in either
// guarantee: the one place that decides it. At least once, a shard's checkpoint is written
// once every output before it is acknowledged, and an offset is committed once the checkpoint
// covering it is (the shard's CommitTracker says when). Exactly once, a shard's outputs, its
// checkpoint and the offsets it covers are one transaction. Either way the offsets committed
// are those of a checkpoint: where every app's state of the partition stands.
//
// The consumer loop acts on what this reports (a failure ends the process; an aborted
// transaction sends the shard's partitions back to their changelogs).
import Kafka
import Logging

final class Committer {
    /// A shard whose transaction was aborted, and why: its partitions start again from their
    /// changelogs (read-committed consumers never see the aborted records).
    struct Abort {
        var shard: Shard
        var reason: String
    }

    private let shards: [Shard]
    private let consumer: any KafkaConsumerClient
    private let exactlyOnce: Bool
    private let intervalMillis: Int64
    private let clients: any KafkaClientFactory
    private let logger: Logger
    private var lastCheckpoint: Int64 = 0
    /// Exactly once: transactions aborted in a row; past a few, the cause will not go away.
    private var abortsInARow = 0
    /// The offsets this process last committed, per partition.
    private(set) var committed: [TopicPartition: Int64] = [:]

    init(
        shards: [Shard], consumer: any KafkaConsumerClient, exactlyOnce: Bool, intervalMillis: Int64, clients: any KafkaClientFactory,
        logger: Logger
    ) {
        self.shards = shards
        self.consumer = consumer
        self.exactlyOnce = exactlyOnce
        self.intervalMillis = intervalMillis
        self.clients = clients
        self.logger = logger
    }

    /// Every checkpoint interval, each shard takes a checkpoint of its changed states; a
    /// checkpoint taken is written as soon as every output before it is acknowledged.
    /// Exactly once, each shard commits its transaction instead.
    ///
    /// - Parameter restoring: input partitions some app is still restored for: not committed.
    func checkpoint(now: Int64, restoring: @autoclosure () -> Set<TopicPartition>) throws(RuntimeFailure) -> [Abort] {
        let due = now - lastCheckpoint >= intervalMillis
        if due { lastCheckpoint = now }
        if exactlyOnce {
            return due ? try commitTransactions(restoring: restoring()).aborts : []
        }
        if due {
            let restoring = restoring()
            for shard in shards { shard.takeCheckpoint(restoring: restoring) }
        }
        for shard in shards { shard.writeCheckpointIfSafe() }
        return []
    }

    /// What became of the shards' transactions.
    private enum TransactionsOutcome {
        case committed
        /// Some commit is to be tried again.
        case pending
        /// Some transaction was aborted: its work is to be done again from the changelogs.
        case aborted
    }

    /// Exactly once: each shard commits its outputs, changed states and input offsets in one
    /// transaction. An abortable failure aborts the shard's transaction; a fatal one (fenced by
    /// another instance with the same transactional id), or too many aborts in a row, fails.
    ///
    /// - Parameter deadline: when the commits stop waiting for the broker (nil: a minute each).
    private func commitTransactions(
        restoring: Set<TopicPartition>, until deadline: ContinuousClock.Instant? = nil
    ) throws(RuntimeFailure) -> (outcome: TransactionsOutcome, aborts: [Abort]) {
        let group = consumer.groupMetadata()
        var outcome = TransactionsOutcome.committed
        var aborts: [Abort] = []
        for shard in shards {
            do {
                try shard.commitTransaction(group: group, restoring: restoring, timeout: deadline.map(clients.remaining) ?? .seconds(60))
                abortsInARow = 0
            } catch where error.isFatal || error.isFencing {
                // Fenced, the broker has aborted the transaction already: no abort to wait for.
                throw .transaction(shard: shard.index, "\(error)", fenced: error.isFencing)
            } catch where error.isRetriable {
                if outcome == .committed { outcome = .pending }
                logger.warning("transaction commit to be retried", metadata: ["shard": "\(shard.index)", "error": "\(error)"])
            } catch {
                outcome = .aborted
                aborts.append(try abort(shard, because: "\(error)"))
            }
        }
        return (outcome, aborts)
    }

    /// Exactly once: aborts a shard's transaction (another failed delivery dooms it too).
    func abort(_ shard: Shard, because reason: String) throws(RuntimeFailure) -> Abort {
        abortsInARow += 1
        guard abortsInARow <= 3 else { throw .transactionsAborting("transactions aborted \(abortsInARow) times in a row; the last because \(reason)") }
        logger.warning("transaction aborted; its partitions start again from their changelogs", metadata: ["shard": "\(shard.index)", "reason": "\(reason)"])
        do {
            try shard.abortTransaction()
        } catch {
            throw .transactionsAborting("transaction of shard \(shard.index) cannot be aborted: \(error)")
        }
        return Abort(shard: shard, reason: reason)
    }

    /// What a last checkpoint left: what was not finished by its deadline (nil: nothing), and
    /// transactions aborted on the way.
    struct LastCheckpoint {
        var unfinished: String?
        var aborts: [Abort] = []
        /// A failure that ends the process.
        var failure: RuntimeFailure?
    }

    /// Delivers everything sent, writes a last checkpoint of every state, and waits until it
    /// is acknowledged too: then every offset a state covers is committable. Exactly once,
    /// the last transaction is committed.
    func checkpointEverything(restoring: Set<TopicPartition>, until deadline: ContinuousClock.Instant) -> LastCheckpoint {
        if exactlyOnce {
            var result = LastCheckpoint()
            do {
                while true {
                    let (outcome, aborts) = try commitTransactions(restoring: restoring, until: deadline)
                    result.aborts += aborts
                    switch outcome {
                    case .committed: return result
                    case .aborted:
                        result.unfinished = "the last transaction was aborted"
                        return result
                    case .pending:
                        guard clients.now() < deadline else {
                            result.unfinished = "the last transaction was not committed in time"
                            return result
                        }
                        // The broker's retriable trouble takes a moment.
                        for shard in shards { shard.serveDeliveries(timeout: .milliseconds(100 / shards.count)) }
                    }
                }
            } catch {
                logger.error("last transaction not committed; the next owner starts from the one before", metadata: ["error": "\(error)"])
                result.unfinished = "the last transaction was not committed (\(error))"
                result.failure = error
                return result
            }
        }
        for shard in shards { shard.flush(timeout: clients.remaining(until: deadline)) }
        for shard in shards {
            shard.writeCheckpoint(until: deadline)
            shard.takeCheckpoint(restoring: restoring)
            shard.writeCheckpoint(until: deadline)
        }
        if let failure = shards.lazy.compactMap(\.deliveryFailure).first { return LastCheckpoint(unfinished: "an output was refused (\(failure))") }
        let inFlight = shards.map(\.inFlight).reduce(0, +)
        return LastCheckpoint(unfinished: inFlight == 0 ? nil : "\(inFlight) outputs or changelog records were not acknowledged")
    }

    /// At least once: commits what the shards' trackers say is committable, in the
    /// background while running, or waiting for the coordinator's answer until `deadline`.
    /// Returns a waited-for commit's error.
    @discardableResult
    func commit(waitingUntil deadline: ContinuousClock.Instant?) -> KafkaError? {
        let offsets = shards.flatMap { $0.takeCommittable() }
        guard !offsets.isEmpty else { return nil }
        for (partition, offset) in offsets { committed[partition] = offset }
        let list = offsets.map { KafkaTopicPartition($0.partition, offset: $0.offset) }
        do {
            if let deadline {
                try consumer.commit(list, timeout: clients.remaining(until: deadline))
            } else {
                try consumer.commit(asynchronously: list)
            }
            return nil
        } catch {
            logger.warning("commit failed; the next one includes it", metadata: ["error": "\(error)"])
            return error
        }
    }
}
