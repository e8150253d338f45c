// A consumer of the simulated cluster: a group member (subscribe) or a reader of partitions it
// assigns itself (assign), whose calls that wait move the simulated clock themselves.
import Kafka

/// A consumer of a ``SimulatedCluster``; see ``KafkaConsumerClient``.
package final class SimulatedConsumer: KafkaConsumerClient {
    unowned let cluster: SimulatedCluster
    let id: Int
    /// The simulated process it belongs to.
    package let owner: Int
    package let groupID: String
    let readCommitted: Bool
    let startsAtEarliest: Bool
    let reportsPartitionEOF: Bool
    let sessionTimeoutMillis: Int64
    private let handler: ((KafkaRebalanceEvent) -> Void)?
    private let arena = InMemoryMessages()

    package var rebalancesIncrementally: Bool { false }

    // Group membership, as the coordinator drives it.
    /// Set while a member of its group.
    var memberID: String?
    var subscription: [String] = []
    /// The partitions of its assignment in the coordinator's view (a member's).
    var held: [KafkaTopicPartition] = []
    /// The coordinator waits for this member to revoke what it holds.
    var mustRevoke = false
    /// The group forgot this member (the cluster was replaced): what it holds is lost, not
    /// revoked, and its commits fail until it has rejoined.
    var membershipLost = false
    /// An assignment to take at the next poll.
    var pendingAssignment: [KafkaTopicPartition]?

    /// The read state of one assigned partition.
    struct Fetch {
        var partition: TopicPartition
        var position: Int64
        var paused = false
        var reportedEnd = false
    }
    /// The assigned partitions, sorted by (topic, partition).
    private var fetches: [Fetch] = []
    private var cursor = 0
    /// The partitions the application paused: librdkafka 2.0.2 keeps the flag on its partition
    /// object, so a partition paused when revoked is still paused when assigned again.
    private var appPaused: Set<TopicPartition> = []
    private var events: [KafkaConsumerEvent] = []
    private var closed = false
    /// Its process crashed (``SimulatedCluster/crash(owner:)``).
    package internal(set) var isCrashed = false
    private var lastTransportError: Int64?

    init(cluster: SimulatedCluster, id: Int, owner: Int, config: KafkaConfig, handler: ((KafkaRebalanceEvent) -> Void)?) {
        self.cluster = cluster
        self.id = id
        self.owner = owner
        self.handler = handler
        groupID = config["group.id"] ?? ""
        readCommitted = config["isolation.level"] != "read_uncommitted"
        startsAtEarliest = !["latest", "largest", "end"].contains(config["auto.offset.reset"] ?? "earliest")
        reportsPartitionEOF = config["enable.partition.eof"] == "true"
        sessionTimeoutMillis = config["session.timeout.ms"].flatMap { Int64($0) } ?? 3_000
    }

    /// Dead (its process crashed) or closed: every call does nothing.
    private var isInert: Bool { closed || isCrashed }

    /// The partitions currently assigned, with their fetch positions.
    package var assignment: [KafkaTopicPartition] { fetches.map { KafkaTopicPartition($0.partition, offset: $0.position) } }

    // MARK: Group and assignment

    package func subscribe(topics: [String]) throws(KafkaError) {
        guard !isInert else { return }
        let topics = Array(Set(topics)).sorted()
        if memberID != nil {
            guard topics != subscription else { return }
            subscription = topics
            cluster.rebalance(cluster.group(groupID))
            return
        }
        fetches = []
        subscription = topics
        memberID = cluster.nextMemberID(group: groupID)
        cluster.join(self)
    }

    package func assign(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !isInert else { return }
        fetches = partitions.map {
            Fetch(
                partition: $0.topicPartition, position: resolve($0.offset, $0.topicPartition), paused: appPaused.contains($0.topicPartition)
            )
        }
        fetches.sort { ($0.partition.topic, $0.partition.partition) < ($1.partition.topic, $1.partition.partition) }
        cursor = 0
    }

    /// A real offset for a requested one: special offsets resolved against the log and the group.
    private func resolve(_ offset: Int64, _ tp: TopicPartition) -> Int64 {
        let end = cluster.log(tp.topic, tp.partition)?.end ?? 0
        switch offset {
        case KafkaTopicPartition.beginningOffset: return 0
        case KafkaTopicPartition.endOffset: return end
        case _ where offset >= 0: return offset
        default: return cluster.committedOffset(group: groupID, tp) ?? (startsAtEarliest ? 0 : end)
        }
    }

    /// Gives up what it holds and takes a new assignment, as the coordinator asks; calls the
    /// handler (revoked before, assigned after the change) and records the events.
    private func serveRebalance() {
        if mustRevoke {
            mustRevoke = false
            let revoked = held
            if !revoked.isEmpty {
                let event = membershipLost ? KafkaRebalanceEvent.lost(revoked) : .revoked(revoked)
                events.append(.rebalance(event))
                handler?(event)
            }
            membershipLost = false
            held = []
            fetches = []
            cluster.revoked(self)
        }
        if let assignment = pendingAssignment {
            pendingAssignment = nil
            held = assignment
            fetches = assignment.map {
                Fetch(
                    partition: $0.topicPartition, position: resolve(KafkaTopicPartition.unsetOffset, $0.topicPartition),
                    paused: appPaused.contains($0.topicPartition))
            }
            cursor = 0
            events.append(.rebalance(.assigned(assignment)))
            handler?(.assigned(assignment))
        }
    }

    // MARK: Polling

    package func poll(timeout: Duration, maxMessages: Int) throws(KafkaError) -> KafkaConsumerPoll {
        arena.reset()
        guard !isInert else { return KafkaConsumerPoll(messages: arena.batch, events: []) }
        let deadline = cluster.nowMillis + simulatedMillis(timeout)
        if cluster.isDown {
            noteTransportError()
            cluster.advance(by: deadline - cluster.nowMillis)
            return KafkaConsumerPoll(messages: arena.batch, events: takeEvents())
        }
        if collect(maxMessages: maxMessages) > 0 || !events.isEmpty {
            let result = KafkaConsumerPoll(messages: arena.batch, events: takeEvents())
            cluster.advance(by: 1)
            return result
        }
        // Nothing yet: wait, as librdkafka would, until something arrives or the time is up.
        if cluster.run(until: deadline, { self.hasSomethingToReturn }) { _ = collect(maxMessages: maxMessages) }
        return KafkaConsumerPoll(messages: arena.batch, events: takeEvents())
    }

    private func takeEvents() -> [KafkaConsumerEvent] {
        defer { events = [] }
        return events
    }

    private func noteTransportError() {
        if let last = lastTransportError, cluster.nowMillis - last < 1_000 { return }
        lastTransportError = cluster.nowMillis
        events.append(.error(cluster.transportError))
    }

    /// Whether a poll now would return something.
    private var hasSomethingToReturn: Bool {
        if isInert || cluster.isDown { return false }
        if mustRevoke || pendingAssignment != nil || !events.isEmpty { return true }
        for fetch in fetches where !fetch.paused {
            guard let log = cluster.log(fetch.partition.topic, fetch.partition.partition) else { continue }
            let end = log.readableEnd(readCommitted: readCommitted)
            var position = fetch.position
            if position > log.end || position < 0 { return true }  // out of range: reset
            while position < end {
                if cluster.isVisible(log.entries[Int(position)], readCommitted: readCommitted) { return true }
                position += 1
            }
            if reportsPartitionEOF && !fetch.reportedEnd && position == end { return true }
        }
        return false
    }

    /// Serves rebalances, then reads up to `maxMessages` records round-robin into the arena
    /// and notes partition ends. Returns the number of records read.
    private func collect(maxMessages: Int) -> Int {
        if cluster.isDown || isInert { return 0 }
        serveRebalance()
        if fetches.isEmpty { return 0 }
        var count = 0
        var progressed = true
        let start = cursor % fetches.count
        while count < maxMessages && progressed {
            progressed = false
            for step in 0..<fetches.count where count < maxMessages {
                let index = (start + step) % fetches.count
                if readOne(index) {
                    count += 1
                    progressed = true
                }
            }
        }
        cursor = (start + 1) % fetches.count
        if reportsPartitionEOF {
            for index in fetches.indices where !fetches[index].paused && !fetches[index].reportedEnd {
                let fetch = fetches[index]
                guard let log = cluster.log(fetch.partition.topic, fetch.partition.partition),
                    fetch.position == log.readableEnd(readCommitted: readCommitted)
                else { continue }
                fetches[index].reportedEnd = true
                events.append(.partitionEOF(KafkaTopicPartition(fetch.partition, offset: fetch.position)))
            }
        }
        return count
    }

    /// Appends the next visible record of a partition to the arena, skipping markers and
    /// (read committed) aborted records; false when there is none.
    private func readOne(_ index: Int) -> Bool {
        let fetch = fetches[index]
        guard !fetch.paused, let log = cluster.log(fetch.partition.topic, fetch.partition.partition) else { return false }
        var position = fetch.position
        if position > log.end || position < 0 { position = startsAtEarliest ? 0 : log.end }
        let end = log.readableEnd(readCommitted: readCommitted)
        while position < end {
            let entry = log.entries[Int(position)]
            position += 1
            if cluster.isVisible(entry, readCommitted: readCommitted) {
                let record = entry.record
                arena.append(
                    topic: fetch.partition.topic, partition: fetch.partition.partition, offset: record.offset,
                    timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers)
                fetches[index].position = position
                fetches[index].reportedEnd = false
                return true
            }
        }
        fetches[index].position = position
        return false
    }

    // MARK: Offsets

    package func commit(asynchronously offsets: [KafkaTopicPartition]) throws(KafkaError) {
        guard !isInert else { return }
        if cluster.isDown {
            events.append(.committed(KafkaError(code: KafkaError.timedOut, message: "sim: commit \(offsets): broker unreachable")))
            return
        }
        if membershipLost {
            events.append(.committed(unknownMember))
            return
        }
        if !offsets.isEmpty { cluster.store(group: groupID, offsets: offsets) }
        events.append(.committed(nil))
    }

    package func commit(_ offsets: [KafkaTopicPartition]?, timeout: Duration) throws(KafkaError) {
        guard !isInert else { throw KafkaError(code: KafkaError.timedOut, message: "sim: commit by a dead consumer") }
        if cluster.isDown {
            cluster.advance(by: simulatedMillis(timeout))
            throw KafkaError(code: KafkaError.timedOut, message: "sim: commit: no answer from the group coordinator within \(timeout)")
        }
        guard let offsets, !offsets.isEmpty else { return }
        if membershipLost { throw unknownMember }
        cluster.store(group: groupID, offsets: offsets)
    }

    /// What the coordinator answers a member it forgot.
    private var unknownMember: KafkaError {
        KafkaError(code: 25, message: "sim: commit: the group coordinator does not know this member (UNKNOWN_MEMBER_ID)")
    }

    package func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition] {
        try awaitBroker(timeout, "read committed offsets")
        return partitions.map {
            KafkaTopicPartition(
                $0.topicPartition, offset: cluster.committedOffset(group: groupID, $0.topicPartition) ?? KafkaTopicPartition.unsetOffset)
        }
    }

    /// Throws a timeout for a dead consumer, and after waiting `timeout` while the broker is down.
    private func awaitBroker(_ timeout: Duration, _ what: String) throws(KafkaError) {
        guard !isInert else { throw KafkaError(code: KafkaError.timedOut, message: "sim: \(what) by a dead consumer") }
        guard cluster.isDown else { return }
        cluster.advance(by: simulatedMillis(timeout))
        throw KafkaError(code: KafkaError.timedOut, message: "sim: \(what): broker unreachable for \(timeout)")
    }

    // MARK: Positions

    package func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) { setPaused(partitions, true) }

    package func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) { setPaused(partitions, false) }

    /// Pauses or resumes partitions of known topics, assigned or not (the flag outlives an
    /// assignment, see `appPaused`).
    private func setPaused(_ partitions: [KafkaTopicPartition], _ paused: Bool) {
        guard !isInert else { return }
        for tp in partitions where cluster.log(tp.topic, tp.partition) != nil {
            if paused { appPaused.insert(tp.topicPartition) } else { appPaused.remove(tp.topicPartition) }
            if let index = fetches.firstIndex(where: { $0.partition == tp.topicPartition }) { fetches[index].paused = paused }
        }
    }

    package func seek(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) {
        guard !isInert else { return }
        for tp in partitions {
            guard let index = fetches.firstIndex(where: { $0.partition == tp.topicPartition }) else {
                throw KafkaError(code: KafkaError.invalidState, message: "sim: seek \(tp): partition not assigned")
            }
            fetches[index].position = resolve(tp.offset, tp.topicPartition)
            fetches[index].reportedEnd = false
        }
    }

    package func offsetsForTimes(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition] {
        try awaitBroker(timeout, "offsets for times")
        return try partitions.map { (tp) throws(KafkaError) in
            guard let log = cluster.log(tp.topic, tp.partition) else {
                throw KafkaError(code: KafkaError.unknownTopic, message: "sim: offsets for times \(tp): unknown partition")
            }
            let found = log.entries.first { !$0.isMarker && $0.record.timestamp >= tp.offset }
            return KafkaTopicPartition(tp.topicPartition, offset: found?.record.offset ?? KafkaTopicPartition.endOffset)
        }
    }

    package func watermarks(topic: String, partition: Int32, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        try awaitBroker(timeout, "watermarks")
        guard let log = cluster.log(topic, partition) else {
            throw KafkaError(code: KafkaError.unknownTopic, message: "sim: watermarks of \(topic)[\(partition)]: unknown partition")
        }
        return (0, log.end)
    }

    package func cachedHighWatermark(topic: String, partition: Int32) -> Int64? {
        guard !isInert else { return nil }
        return cluster.log(topic, partition)?.end
    }

    package func clusterID(timeout: Duration) -> String? {
        guard !isInert else { return nil }
        guard !cluster.isDown else {
            cluster.advance(by: simulatedMillis(timeout))
            return nil
        }
        return cluster.clusterID
    }

    package func takeOffsetResets() -> [KafkaOffsetReset] { [] }

    private var metadata: KafkaConsumerGroupMetadata?

    /// The same object each time, so that a simulated producer can tell its group.
    package func groupMetadata() -> KafkaConsumerGroupMetadata {
        if let metadata { return metadata }
        let made = KafkaConsumerGroupMetadata(groupID: groupID)
        metadata = made
        cluster.groupMetadata.append((made, groupID))
        return made
    }

    package func close(timeout: Duration) throws(KafkaError) -> Bool {
        if closed { return true }
        guard !isCrashed else { return false }
        if cluster.isDown {
            cluster.advance(by: simulatedMillis(timeout))
            return false
        }
        if memberID != nil {
            if !held.isEmpty { handler?(.revoked(held)) }
            held = []
            cluster.leaveGroup(self)
        }
        fetches = []
        closed = true
        arena.reset()
        return true
    }
}

/// Whole simulated milliseconds of a duration (never negative).
func simulatedMillis(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
    if overflow { return seconds < 0 ? 0 : Int64.max / 4 }
    return max(0, ms + attoseconds / 1_000_000_000_000_000)
}
