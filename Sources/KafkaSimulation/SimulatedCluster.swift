// An in-memory Kafka cluster on simulated time: partition logs with transactions, consumer
// groups with eager rebalancing, and the faults a harness injects. Single-threaded, and
// deterministic from its seed: nothing here reads real time or iterates a dictionary.
import Kafka

/// A data record as a check sees it.
package struct SimulatedRecord: Sendable, Equatable {
    package var offset: Int64
    /// Nil for no key.
    package var key: [UInt8]?
    /// Nil for a tombstone.
    package var value: [UInt8]?
    package var headers: [KafkaOutgoingHeader]
    /// Epoch milliseconds: the sender's, or the simulated time it was sent.
    package var timestamp: Int64

    package init(offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [KafkaOutgoingHeader], timestamp: Int64) {
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// One entry of a partition log: a data record, or a transaction's control marker.
struct LogEntry {
    var record: SimulatedRecord
    /// The transaction the entry belongs to, nil for a plain record.
    var transaction: Int?
    var isMarker: Bool
}

/// A partition's log.
final class PartitionLog {
    var entries: [LogEntry] = []
    /// The open transactions with records here, with the offset of their first one.
    var openTransactions: [(transaction: Int, firstOffset: Int64)] = []

    var end: Int64 { Int64(entries.count) }

    /// The first offset of an open transaction; nothing at or after it is read committed.
    var lastStableOffset: Int64 { openTransactions.map(\.firstOffset).min() ?? end }

    func readableEnd(readCommitted: Bool) -> Int64 { readCommitted ? lastStableOffset : end }
}

enum TransactionStatus { case open, committed, aborted }

/// A transaction as the coordinator knows it.
final class TransactionState {
    let id: Int
    let producer: Int
    var status = TransactionStatus.open
    /// The partitions with records of the transaction, in the order first written.
    var partitions: [TopicPartition] = []
    /// Offsets sent to the transaction, by group, in the order sent.
    var offsets: [(group: String, offsets: [KafkaTopicPartition])] = []
    /// A record of it failed: it can only abort.
    var failed: KafkaError?

    init(id: Int, producer: Int) {
        self.id = id
        self.producer = producer
    }
}

/// A consumer group as the coordinator knows it.
final class GroupState {
    let id: String
    var committed: [TopicPartition: Int64] = [:]
    /// Its members, by member id.
    var members: [SimulatedConsumer] = []
    /// While rebalancing: the members that must still give up their partitions (or die).
    var awaitingRevoke: Set<String> = []
    var isRebalancing = false

    init(id: String) { self.id = id }
}

/// Something that falls due at a simulated instant.
enum SimulationTimer {
    case outageEnd
    case sessionExpiry(consumer: Int)
    case abortTransaction(Int)
}

/// An in-memory Kafka cluster whose clients conform to ``KafkaConsumerClient`` and
/// ``KafkaProducerClient``, on simulated time shared by every simulated process.
///
/// Time moves only when asked: ``advance(by:)``, or a client call that waits (a poll with
/// nothing to return, flush, a commit or transaction call while the broker is down, …), which
/// fires what falls due on the way (acknowledgements, outage ends, session expiries, the abort
/// of a crashed producer's transaction) and returns as soon as it has something.
///
/// What it models as librdkafka 2.0.2 and Kafka show it to the clients: logs from offset 0
/// with transaction markers; read_committed up to the last stable offset; eager rebalancing
/// (every member revokes, then the coordinator deals partitions round-robin); acknowledgements
/// in send order per producer after ``ackLatency``; fencing by transactional id.
///
/// Faults: ``crash(owner:)`` kills every client of a process (its calls do nothing from then
/// on): its group memberships end after their `session.timeout.ms` (default 3 s), its open
/// transactions abort 5 s later, and each of its records in flight is written or lost by a
/// seeded coin, a loss taking the later records of its partition with it. ``outage(for:)``
/// makes the broker unreachable. ``refuseNextDelivery(owner:)`` fails one delivery
/// (`_MSG_TIMED_OUT`). ``fence(transactionalID:)`` and ``replaceCluster()``.
///
/// Simplified: no retention (low watermark 0); no `max.poll.interval.ms` and no broker-side
/// `transaction.timeout.ms` (records still time out after `message.timeout.ms`); commits are
/// not checked against the member's generation; an abort purges the records not yet written
/// rather than writing them aborted; after ``replaceCluster()`` a transaction open before can
/// only abort, and the producer goes on with its transactional id; offset resets are not
/// reported (`takeOffsetResets` is always empty). Clients hold the cluster `unowned`: keep it
/// alive while they are used.
package final class SimulatedCluster {
    /// The run's chance: acknowledgement latencies, a crash's coin, and the harness's own draws.
    package var random: SimulationRandom
    /// Simulated epoch milliseconds.
    package private(set) var nowMillis: Int64
    private let startMillis: Int64
    /// The one real instant read: simulated instants are offsets from it.
    private let baseInstant: ContinuousClock.Instant
    /// `sim-cluster-1`, then a new one with each ``replaceCluster()``.
    package private(set) var clusterID: String
    private var clusterGeneration = 1

    /// Milliseconds from send to write and acknowledgement.
    package var ackLatency: ClosedRange<Int64> = 1...20
    /// Called whenever the group coordinator stores offsets.
    package var onCommit: ((_ group: String, _ offsets: [KafkaTopicPartition]) -> Void)?

    var topics: [String: [PartitionLog]] = [:]
    var groups: [String: GroupState] = [:]
    var transactions: [TransactionState] = []
    /// The producer currently holding each transactional id.
    var transactionalOwners: [String: Int] = [:]
    private(set) var consumers: [SimulatedConsumer] = []
    private(set) var producers: [SimulatedProducer] = []
    private var downUntil: Int64 = .min
    private var timers: [(due: Int64, sequence: Int, timer: SimulationTimer)] = []
    private var timerSequence = 0
    /// Pending refusals: the owner whose next record fails, or nil for anyone's.
    private var refusals: [Int?] = []
    private var memberSequence = 0
    /// The group metadata objects consumers handed out, with their group ids.
    var groupMetadata: [(metadata: KafkaConsumerGroupMetadata, group: String)] = []

    /// An empty cluster at `startMillis` (epoch ms), whose every chance follows from `seed`.
    package init(seed: UInt64, startMillis: Int64 = 1_700_000_000_000) {
        random = SimulationRandom(seed: seed)
        nowMillis = startMillis
        self.startMillis = startMillis
        baseInstant = ContinuousClock.now
        clusterID = "sim-cluster-1"
    }

    /// A fixed base instant plus the simulated time elapsed.
    package var instant: ContinuousClock.Instant { baseInstant + .milliseconds(nowMillis - startMillis) }

    /// Whether the broker is unreachable (an ``outage(for:)`` is under way).
    package var isDown: Bool { nowMillis < downUntil }

    // MARK: Time

    /// Moves time on by `milliseconds`, firing whatever falls due on the way.
    package func advance(by milliseconds: Int64) {
        _ = run(until: nowMillis + max(0, milliseconds)) { false }
    }

    /// Fires what falls due until `deadline`, stopping early (at the instant it happens) once
    /// `done` holds. Returns whether it does.
    @discardableResult
    func run(until deadline: Int64, _ done: () -> Bool) -> Bool {
        fireDue()
        if done() { return true }
        while let next = nextDue(), next <= deadline {
            nowMillis = max(nowMillis, next)
            fireDue()
            if done() { return true }
        }
        nowMillis = max(nowMillis, deadline)
        fireDue()
        return done()
    }

    /// When something next falls due (a timer, an acknowledgement, a message timeout), if
    /// anything is pending: a harness with every process idle may advance to it.
    package var nextDueMillis: Int64? { nextDue() }

    private func nextDue() -> Int64? {
        var next = timers.map(\.due).min()
        for producer in producers {
            if let due = producer.nextDue(brokerUp: !isDown) { next = min(next ?? due, due) }
        }
        return next
    }

    /// Fires every timer, acknowledgement and message timeout due now, timers first, in order.
    private func fireDue() {
        while let index = timers.indices.filter({ timers[$0].due <= nowMillis })
            .min(by: { (timers[$0].due, timers[$0].sequence) < (timers[$1].due, timers[$1].sequence) })
        {
            let timer = timers.remove(at: index).timer
            fire(timer)
        }
        for producer in producers { producer.acknowledgeDue(brokerUp: !isDown) }
    }

    private func schedule(_ timer: SimulationTimer, at due: Int64) {
        timerSequence += 1
        timers.append((due, timerSequence, timer))
    }

    private func fire(_ timer: SimulationTimer) {
        switch timer {
        case .outageEnd:
            break
        case .sessionExpiry(let consumer):
            leaveGroup(consumers[consumer])
        case .abortTransaction(let id):
            if transactions[id].status == .open { endTransaction(id, commit: false) }
        }
    }

    // MARK: Topics and logs

    /// Creates a topic with empty partitions (nothing if it exists); groups subscribed to it rebalance.
    package func createTopic(_ name: String, partitions: Int32) {
        guard topics[name] == nil else { return }
        topics[name] = (0..<max(1, Int(partitions))).map { _ in PartitionLog() }
        for id in groups.keys.sorted() {
            let group = groups[id]!
            if group.members.contains(where: { $0.subscription.contains(name) }) { rebalance(group) }
        }
    }

    /// Nil for a topic that does not exist.
    package func partitionCount(of topic: String) -> Int32? { topics[topic].map { Int32($0.count) } }

    func log(_ topic: String, _ partition: Int32) -> PartitionLog? {
        guard let logs = topics[topic], partition >= 0, Int(partition) < logs.count else { return nil }
        return logs[Int(partition)]
    }

    /// The partition of a record sent without one: murmur2 of the key, partition 0 without a key.
    func partition(forKey key: [UInt8]?, partitions: Int32) -> Int32 {
        guard let key else { return 0 }
        return key.withUnsafeBytes { KafkaPartitioner.murmur2($0, partitions: partitions) }
    }

    /// Appends records as an outside producer would (not transactional).
    package func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8]?, headers: [KafkaOutgoingHeader] = [], timestamp: Int64?
    ) {
        guard let count = partitionCount(of: topic) else { preconditionFailure("produce to unknown topic \(topic)") }
        let partition = partition ?? self.partition(forKey: key, partitions: count)
        _ = append(
            topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp ?? nowMillis,
            transaction: nil)
    }

    /// Writes a data record; returns its offset (nil for an unknown partition).
    func append(
        topic: String, partition: Int32, key: [UInt8]?, value: [UInt8]?, headers: [KafkaOutgoingHeader], timestamp: Int64,
        transaction: Int?
    ) -> Int64? {
        guard let log = log(topic, partition) else { return nil }
        let offset = log.end
        if let transaction {
            let state = transactions[transaction]
            let tp = TopicPartition(topic: topic, partition: partition)
            if !state.partitions.contains(tp) {
                state.partitions.append(tp)
                log.openTransactions.append((transaction, offset))
            }
        }
        let record = SimulatedRecord(offset: offset, key: key, value: value, headers: headers, timestamp: timestamp)
        log.entries.append(LogEntry(record: record, transaction: transaction, isMarker: false))
        return offset
    }

    func isVisible(_ entry: LogEntry, readCommitted: Bool) -> Bool {
        if entry.isMarker { return false }
        guard readCommitted, let transaction = entry.transaction else { return true }
        return transactions[transaction].status == .committed
    }

    /// The data records of a partition in offset order; read committed, without aborted and
    /// open transactions' records.
    package func records(topic: String, partition: Int32, readCommitted: Bool) -> [SimulatedRecord] {
        guard let log = log(topic, partition) else { return [] }
        return log.entries.filter { entry in
            guard !entry.isMarker else { return false }
            guard readCommitted, let transaction = entry.transaction else { return true }
            return transactions[transaction].status == .committed
        }.map(\.record)
    }

    // MARK: Transactions

    func beginTransaction(producer: Int) -> Int {
        transactions.append(TransactionState(id: transactions.count, producer: producer))
        return transactions.count - 1
    }

    /// Commits or aborts: a marker in every partition the transaction wrote to, and on commit
    /// its offsets stored.
    func endTransaction(_ id: Int, commit: Bool) {
        let state = transactions[id]
        guard state.status == .open else { return }
        state.status = commit ? .committed : .aborted
        let sorted = state.partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        for tp in sorted {
            guard let log = log(tp.topic, tp.partition) else { continue }
            log.openTransactions.removeAll { $0.transaction == id }
            let marker = SimulatedRecord(offset: log.end, key: nil, value: nil, headers: [], timestamp: nowMillis)
            log.entries.append(LogEntry(record: marker, transaction: id, isMarker: true))
        }
        if commit {
            for (group, offsets) in state.offsets { store(group: group, offsets: offsets) }
        }
    }

    /// As if another producer called initTransactions with `transactionalID`: the current one
    /// is fenced (its open transaction aborted).
    package func fence(transactionalID: String) {
        guard let owner = transactionalOwners[transactionalID] else { return }
        transactionalOwners[transactionalID] = nil
        producers[owner].fenced()
    }

    /// Registers `producer` as the holder of its transactional id, fencing the one before.
    func claim(transactionalID: String, producer: Int) {
        if let owner = transactionalOwners[transactionalID], owner != producer { producers[owner].fenced() }
        transactionalOwners[transactionalID] = producer
    }

    // MARK: Groups

    func group(_ id: String) -> GroupState {
        if let group = groups[id] { return group }
        let group = GroupState(id: id)
        groups[id] = group
        return group
    }

    func nextMemberID(group: String) -> String {
        memberSequence += 1
        return "\(group)-member-\(String(repeating: "0", count: max(0, 6 - String(memberSequence).count)))\(memberSequence)"
    }

    func join(_ consumer: SimulatedConsumer) {
        let group = group(consumer.groupID)
        group.members.append(consumer)
        group.members.sort { $0.memberID! < $1.memberID! }
        rebalance(group)
    }

    /// Removes a member (closed, or its session expired) and rebalances the rest.
    func leaveGroup(_ consumer: SimulatedConsumer) {
        guard let memberID = consumer.memberID, let group = groups[consumer.groupID] else { return }
        consumer.memberID = nil
        group.members.removeAll { $0 === consumer }
        group.awaitingRevoke.remove(memberID)
        rebalance(group)
    }

    /// Starts an eager rebalance: every member that holds partitions (or is dead and so cannot
    /// rejoin) must revoke them before the coordinator assigns again.
    func rebalance(_ group: GroupState) {
        group.isRebalancing = true
        group.awaitingRevoke = []
        for member in group.members {
            member.pendingAssignment = nil
            if member.held.isEmpty { member.membershipLost = false }
            if !member.held.isEmpty || member.isCrashed {
                member.mustRevoke = !member.held.isEmpty
                group.awaitingRevoke.insert(member.memberID!)
            } else {
                member.mustRevoke = false
            }
        }
        if group.awaitingRevoke.isEmpty { assignPartitions(group) }
    }

    func revoked(_ consumer: SimulatedConsumer) {
        guard let memberID = consumer.memberID, let group = groups[consumer.groupID] else { return }
        group.awaitingRevoke.remove(memberID)
        if group.isRebalancing && group.awaitingRevoke.isEmpty { assignPartitions(group) }
    }

    /// Round-robin over the members sorted by id, of the partitions sorted by (topic, partition),
    /// each to the next member subscribed to its topic.
    private func assignPartitions(_ group: GroupState) {
        group.isRebalancing = false
        let members = group.members
        var assignments = [[KafkaTopicPartition]](repeating: [], count: members.count)
        let subscribed = Set(members.flatMap(\.subscription)).sorted()
        var cursor = 0
        for topic in subscribed {
            guard let count = partitionCount(of: topic) else { continue }
            for partition in 0..<count {
                for step in 0..<members.count {
                    let index = (cursor + step) % members.count
                    if members[index].subscription.contains(topic) {
                        assignments[index].append(KafkaTopicPartition(topic: topic, partition: partition))
                        cursor = (index + 1) % members.count
                        break
                    }
                }
            }
        }
        for (member, assignment) in zip(members, assignments) { member.pendingAssignment = assignment }
    }

    func committedOffset(group: String, _ tp: TopicPartition) -> Int64? { groups[group]?.committed[tp] }

    /// The offset the group committed last for the partition (the next to read), if any.
    package func committedOffset(group: String, topic: String, partition: Int32) -> Int64? {
        committedOffset(group: group, TopicPartition(topic: topic, partition: partition))
    }

    func store(group id: String, offsets: [KafkaTopicPartition]) {
        let group = group(id)
        for offset in offsets { group.committed[offset.topicPartition] = offset.offset }
        onCommit?(id, offsets)
    }

    // MARK: Clients and faults

    /// A consumer of process `owner`. Reads `group.id`, `isolation.level` (read_committed),
    /// `auto.offset.reset` (earliest), `enable.partition.eof` and `session.timeout.ms` (3 s);
    /// `rebalance` is called inside its polls (and close), as librdkafka's rebalance callback.
    package func consumer(owner: Int, config: KafkaConfig, rebalance: ((KafkaRebalanceEvent) -> Void)?) -> SimulatedConsumer {
        let consumer = SimulatedConsumer(cluster: self, id: consumers.count, owner: owner, config: config, handler: rebalance)
        consumers.append(consumer)
        return consumer
    }

    /// A producer of process `owner`, transactional with `transactional.id`. Reads
    /// `message.timeout.ms`, `transaction.timeout.ms` and `tidemark.simulation.group` (see
    /// ``SimulatedProducer/group``).
    package func producer(owner: Int, config: KafkaConfig) -> SimulatedProducer {
        let producer = SimulatedProducer(cluster: self, id: producers.count, owner: owner, config: config)
        producers.append(producer)
        return producer
    }

    /// Kills every client `owner` has made so far (clients it makes later, as a restarted
    /// process, live): see the type's notes for what becomes of its memberships, transactions
    /// and records in flight.
    package func crash(owner: Int) {
        for producer in producers where producer.owner == owner && !producer.isCrashed { producer.crashed() }
        for consumer in consumers where consumer.owner == owner && !consumer.isCrashed {
            consumer.isCrashed = true
            if consumer.memberID != nil {
                schedule(.sessionExpiry(consumer: consumer.id), at: nowMillis + consumer.sessionTimeoutMillis)
                if let group = groups[consumer.groupID], group.isRebalancing { group.awaitingRevoke.insert(consumer.memberID!) }
            }
        }
    }

    func scheduleAbort(transaction: Int, afterMillis: Int64) {
        schedule(.abortTransaction(transaction), at: nowMillis + afterMillis)
    }

    /// The broker is unreachable from now for `milliseconds`.
    package func outage(for milliseconds: Int64) {
        downUntil = max(downUntil, nowMillis + milliseconds)
        schedule(.outageEnd, at: downUntil)
    }

    /// The next record produced (by `owner`'s producers, or anyone's) fails its delivery.
    package func refuseNextDelivery(owner: Int?) { refusals.append(owner) }

    /// Whether a record now sent by `owner` is refused (using up the refusal).
    func takeRefusal(owner: Int) -> Bool {
        guard let index = refusals.firstIndex(where: { $0 == nil || $0 == owner }) else { return false }
        refusals.remove(at: index)
        return true
    }

    /// A new, empty cluster on the same address: new id, topics recreated empty, groups and
    /// committed offsets gone, open transactions gone. Members find the new coordinator does
    /// not know them (librdkafka's UNKNOWN_MEMBER_ID): at their next poll their partitions
    /// are `.lost`, their commits fail until then, and they rejoin.
    package func replaceCluster() {
        clusterGeneration += 1
        clusterID = "sim-cluster-\(clusterGeneration)"
        for name in topics.keys.sorted() {
            topics[name] = topics[name]!.map { _ in PartitionLog() }
        }
        for transaction in transactions where transaction.status == .open {
            transaction.status = .aborted
            transaction.failed = KafkaError(code: 49, message: "the cluster no longer knows the transaction")
        }
        let old = groups
        groups = [:]
        for id in old.keys.sorted() {
            let members = old[id]!.members
            guard !members.isEmpty else { continue }
            let group = group(id)
            group.members = members
            // The new coordinator does not know them: they lose what they hold, and rejoin.
            for member in members { member.membershipLost = true }
            rebalance(group)
        }
    }

    /// The transport error a client reports while the broker is down.
    var transportError: KafkaError {
        KafkaError(code: -195, message: "sim: broker unreachable (simulated outage)")
    }
}
