// The consumer: group subscription with rebalance events, batched polls of
// borrowed messages, manual offset store/commit, pause/resume, seek, and a clean close.
import CRdKafka
import Synchronization
import Glibc

/// A change of the partitions assigned to a consumer of a group.
package enum KafkaRebalanceEvent: Sendable, Equatable {
    /// These partitions were added to the assignment.
    case assigned([KafkaTopicPartition])
    /// These partitions are about to be taken away; commit their progress now.
    case revoked([KafkaTopicPartition])
    /// These partitions were lost (e.g. session timed out): another consumer may
    /// already own them, so committing their offsets will fail.
    case lost([KafkaTopicPartition])
}

/// Something that happened during a poll besides messages.
package enum KafkaConsumerEvent: Sendable {
    /// The group assignment changed (already applied when the poll returns).
    case rebalance(KafkaRebalanceEvent)
    /// A partition reached its end (only with `enable.partition.eof=true`);
    /// `offset` is the next offset that will be read.
    case partitionEOF(KafkaTopicPartition)
    /// A non-fatal error (broker down, transport failure, …); librdkafka keeps retrying.
    case error(KafkaError)
    /// The outcome of an offset commit (asynchronous commits and the automatic ones):
    /// nil when the group coordinator stored the offsets.
    case committed(KafkaError?)
}

/// The result of one ``KafkaConsumer/poll(timeout:maxMessages:)``.
package struct KafkaConsumerPoll {
    /// The messages read, valid until the next poll or close.
    package let messages: KafkaMessageBatch
    /// Rebalances, end-of-partition notices and errors seen during the poll, in order.
    package let events: [KafkaConsumerEvent]

    package init(messages: KafkaMessageBatch, events: [KafkaConsumerEvent]) {
        self.messages = messages
        self.events = events
    }
}

/// Called on the polling thread, inside `poll` or `close`, when the assignment
/// changes: after `assigned` partitions are assigned, and *before* `revoked` or
/// `lost` partitions are taken away, so the handler may still store and commit
/// their offsets through the consumer it is given.
package typealias KafkaRebalanceHandler = (KafkaConsumer, KafkaRebalanceEvent) -> Void

/// A Kafka consumer in a consumer group.
///
/// Offsets are only committed for what the caller says is done:
/// `enable.auto.offset.store` is false, so ``store(_:)`` (or ``commit(_:asynchronously:)``
/// with explicit offsets) decides what a commit (automatic with
/// `enable.auto.commit`, or ``commit(_:timeout:)`` with nil) writes.
///
/// ## Fair partitions
///
/// By default librdkafka forwards every partition's fetch queue into one consumer
/// queue, so a record of a quiet partition waits behind everything already
/// prefetched for hot ones, and (librdkafka < 2.2) once that shared queue passes
/// `queued.min.messages` every partition's fetching is backed off for a second.
/// With `fairPartitions: true` each assigned partition keeps its own queue and
/// ``poll(timeout:maxMessages:)`` takes from them round-robin: a record of any partition
/// that is already fetched is returned by the next poll, however deep the other
/// partitions' backlogs.
///
/// A fair consumer keeps the meaning `queued.max.messages.kbytes` has for a consumer with
/// one queue: the memory of everything prefetched, whatever the number of partitions (the
/// estimate counts keys, values and about 320 bytes of librdkafka's bookkeeping per record;
/// default 64 MiB). librdkafka is given a sixth of it as each partition's bound, and
/// partitions with a backlog take turns at fetching when more of them would fill their
/// bounds than the budget holds (they are paused meanwhile; caught-up partitions never
/// are). `queued.min.messages` stays per partition, as documented.
///
/// Not thread-safe: use one consumer from one thread (or task) at a time.
/// Always ``close()`` a consumer that stops, so that it leaves its group at once
/// and its partitions are not locked for `session.timeout.ms`; deinit closes too,
/// but without calling the rebalance handler.
package final class KafkaConsumer {
    /// Where to start reading a partition as it is assigned; nil (or a nil answer): at
    /// the group's committed offset. Called on the polling thread inside `poll`.
    package var startOffset: ((_ topic: String, _ partition: Int32) -> Int64?)?
    let handle: OpaquePointer
    private let context: ConsumerContext
    var batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private var batchCapacity: Int
    var batchCount = 0
    private var closed = false
    /// Whether ``close(timeout:)`` finished leaving the group before its deadline.
    private var closedInTime = false
    /// How long a close may take when its caller names no bound (and in deinit).
    package static let closeTimeout: Duration = .seconds(10)
    /// The partition queues in fair mode, nil otherwise.
    let fairQueues: PartitionQueues?

    /// Creates a consumer. `config` must contain `bootstrap.servers` and `group.id`.
    ///
    /// Defaults (overridable): `enable.auto.offset.store=false`.
    /// - Parameters:
    ///   - fairPartitions: serve each assigned partition from its own queue,
    ///     round-robin (see "Fair partitions" above). Off by default.
    ///   - rebalanceHandler: see ``KafkaRebalanceHandler``; events are also
    ///     returned by ``poll(timeout:maxMessages:)``.
    package init(
        config: KafkaConfig, fairPartitions: Bool = false, rebalanceHandler: KafkaRebalanceHandler? = nil
    ) throws(KafkaError) {
        guard config["group.id"] != nil else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "a consumer needs 'group.id'", property: "group.id")
        }
        let budget = fairPartitions ? try PrefetchBudget(config: config) : nil
        let conf = try (budget?.librdkafkaConfig(config) ?? config).makeConf(defaults: ["enable.auto.offset.store": "false"])
        let context = ConsumerContext(handler: rebalanceHandler)
        // The context outlives the rd_kafka_t: the consumer owns both and destroys
        // the rd_kafka_t (which makes the last callback) before releasing the context.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        rd_kafka_conf_set_error_cb(conf, consumerErrorCallback)
        rd_kafka_conf_set_offset_commit_cb(conf, consumerCommitCallback)
        rd_kafka_conf_set_log_cb(conf, consumerLogCallback)
        let handle = try makeClient(RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(handle)
        if fairPartitions {
            do {
                fairQueues = try PartitionQueues(handle: handle, budget: budget)
            } catch {
                rd_kafka_destroy(handle)
                throw error
            }
        } else {
            fairQueues = nil
        }
        self.handle = handle
        self.context = context
        rebalancesIncrementally = Self.assignmentStrategy(of: handle).split(separator: ",").contains {
            $0.filter { $0 != " " } == "cooperative-sticky"
        }
        self.batchCapacity = 1024
        self.batch = .allocate(capacity: batchCapacity)
        context.consumer = self
    }

    deinit {
        context.handler = nil
        if !closed { _ = try? close(timeout: Self.closeTimeout) }
        releaseBatch()
        guard closedInTime else {
            // rd_kafka_destroy waits for a close under way without a bound, even with
            // RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE (a broker that stopped answering holds it
            // forever). Such a client is left to end with the process, and the context its
            // callbacks reach with it; nothing polls it any more.
            context.consumer = nil
            _ = Unmanaged.passRetained(context)
            batch.deallocate()
            return
        }
        rd_kafka_destroy(handle)
        fairQueues?.closeWakeup()
        batch.deallocate()
    }

    /// Whether the group rebalances incrementally (`cooperative-sticky`): a revocation then
    /// takes partitions away for good, where an eager rebalance revokes every partition and
    /// assigns the new set right after.
    ///
    /// Read from the configured assignors (librdkafka requires them all of one protocol), not
    /// from `rd_kafka_rebalance_protocol`: that asks the group thread and returns NULL when the
    /// question fails, as it did inside a revocation on a loaded machine.
    package let rebalancesIncrementally: Bool

    /// Subscribes to `topics` (replacing any earlier subscription); partitions
    /// arrive through rebalance events while polling.
    package func subscribe(topics: [String]) throws(KafkaError) {
        let list = TopicPartitionList(topics.map { KafkaTopicPartition(topic: $0, partition: tdk_partition_unassigned()) })
        try check(rd_kafka_subscribe(handle, list.pointer), "subscribe to \(topics)")
    }

    /// Assigns partitions directly, outside group management (offsets in the list, or stored offsets).
    package func assign(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let list = TopicPartitionList(partitions)
        let held = budgetPaused(among: nil)
        // The queues are split off before fetching starts, so no message takes the shared queue.
        fairQueues?.detachAll()
        fairQueues?.attach(partitions)
        let err = rd_kafka_assign(handle, list.pointer)
        releaseBudgetPauses(held)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { fairQueues?.detachAll() }
        try check(err, "assign \(partitions)")
        learnBacklogs(of: partitions)
        try balancePrefetch(purgeUpTo: nil)
    }

    /// The partitions currently assigned.
    package func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try check(rd_kafka_assignment(handle, &list), "read assignment")
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        return TopicPartitionList.read(list)
    }

    /// Reads up to `maxMessages` messages.
    ///
    /// Blocks up to `timeout` for the first message or event, then takes only what
    /// is already available. The messages of the previous poll are released first
    /// (their bytes become invalid). Rebalance callbacks run inside this call.
    ///
    /// In fair mode the messages come from the partitions in turn (each partition's
    /// own order is kept), and the call also returns early when only events
    /// (a rebalance, an error, an end of partition) happened.
    /// - Throws: a fatal error of the client (the consumer must be recreated).
    package func poll(timeout: Duration, maxMessages: Int = 1024) throws(KafkaError) -> KafkaConsumerPoll {
        precondition(!closed, "poll after close")
        precondition(maxMessages > 0, "maxMessages must be positive")
        releaseBatch()
        if maxMessages > batchCapacity {
            batch.deallocate()
            batchCapacity = maxMessages
            batch = .allocate(capacity: maxMessages)
        }
        if fairQueues != nil {
            try pollFair(wait: milliseconds(timeout), maxMessages: maxMessages)
            return KafkaConsumerPoll(
                messages: KafkaMessageBatch(storage: batch, count: batchCount, topics: context.topics),
                events: context.takeEvents()
            )
        }
        var wait = milliseconds(timeout)
        while batchCount < maxMessages, let message = rd_kafka_consumer_poll(handle, wait) {
            wait = 0
            try accept(message)
        }
        return KafkaConsumerPoll(
            messages: KafkaMessageBatch(storage: batch, count: batchCount, topics: context.topics),
            events: context.takeEvents()
        )
    }

    /// Turns an error message into an event; returns a fatal error to throw.
    func surface(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaError? {
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            context.events.append(.partitionEOF(KafkaTopicPartition(topic: topic, partition: m.partition, offset: m.offset)))
            return nil
        }
        var text = String(cString: rd_kafka_err2str(m.err))
        if let payload = m.payload, m.len > 0 {
            text = String(decoding: UnsafeRawBufferPointer(start: payload, count: m.len), as: UTF8.self)
        }
        if !topic.isEmpty { text = "\(topic)[\(m.partition)]: \(text)" }
        if m.err == RD_KAFKA_RESP_ERR__FATAL {
            var errstr = [CChar](repeating: 0, count: 512)
            let code = rd_kafka_fatal_error(handle, &errstr, errstr.count)
            var error = KafkaError(code, message: string(fromNulTerminated: errstr))
            error.isFatal = true
            return error
        }
        context.events.append(.error(KafkaError(m.err, message: text)))
        return nil
    }

    /// True when the current poll has seen a rebalance, error or end of partition.
    var hasPendingEvents: Bool { !context.events.isEmpty }

    private func releaseBatch() {
        for i in 0..<batchCount { rd_kafka_message_destroy(batch[i]) }
        batchCount = 0
    }

    /// Adds a message to the batch, or turns an error message into an event.
    @inline(__always)
    func accept(_ message: UnsafeMutablePointer<rd_kafka_message_t>) throws(KafkaError) {
        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            batch[batchCount] = message
            batchCount += 1
        } else {
            let error = surface(message)
            rd_kafka_message_destroy(message)
            if let error { throw error }
        }
    }

    /// Marks `message` done: its offset + 1 will be written by the next commit.
    /// Only for messages of currently assigned partitions.
    package func store(_ message: KafkaMessage) throws(KafkaError) {
        try check(rd_kafka_offset_store(message.raw.pointee.rkt, message.partition, message.offset), "store offset")
    }

    /// Stores offsets to commit later; each offset is the *next* offset to read.
    package func store(offsets: [KafkaTopicPartition]) throws(KafkaError) {
        let list = TopicPartitionList(offsets)
        try check(rd_kafka_offsets_store(handle, list.pointer), "store offsets")
        if let error = list.firstError("store offset") { throw error }
    }

    /// Commits explicit offsets (each the *next* offset to read), asynchronously: the outcome
    /// is reported as a ``KafkaConsumerEvent/committed(_:)`` event by a later poll.
    package func commit(asynchronously offsets: [KafkaTopicPartition]) throws(KafkaError) {
        let list = TopicPartitionList(offsets)
        try check(rd_kafka_commit(handle, list.pointer, 1), "commit \(offsets)")
    }

    /// Commits explicit offsets (or, with nil, the offsets stored with ``store(_:)``) and
    /// waits for the coordinator's answer at most `timeout`: `rd_kafka_commit` waits without a
    /// bound, so the result is taken from a queue of its own. Nothing stored is not an error.
    package func commit(_ offsets: [KafkaTopicPartition]?, timeout: Duration) throws(KafkaError) {
        let what = offsets.map { "commit \($0)" } ?? "commit stored offsets"
        let list = offsets.map(TopicPartitionList.init)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        try check(rd_kafka_commit_queue(handle, list?.pointer, queue, nil, nil), what)
        guard let event = rd_kafka_queue_poll(queue, milliseconds(timeout)) else {
            throw KafkaError(code: KafkaError.timedOut, message: "\(what): no answer from the group coordinator within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        try check(err, what)
        if let answered = rd_kafka_event_topic_partition_list(event), let error = TopicPartitionList.firstError(in: answered, what) {
            throw error
        }
    }

    /// The group's committed offsets for `partitions`.
    package func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition] {
        let list = TopicPartitionList(partitions)
        try check(rd_kafka_committed(handle, list.pointer, milliseconds(timeout)), "read committed offsets")
        return list.partitions
    }

    /// Stops fetching from `partitions` (they stay assigned).
    package func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        _ = applicationPaused(partitions, true)
        let list = TopicPartitionList(partitions)
        try check(rd_kafka_pause_partitions(handle, list.pointer), "pause")
        if let error = list.firstError("pause") { throw error }
    }

    /// Resumes fetching from paused `partitions` (in fair mode, those the prefetch budget
    /// holds back resume when there is room).
    package func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let resumable = applicationPaused(partitions, false)
        guard !resumable.isEmpty else { return }
        let list = TopicPartitionList(resumable)
        try check(rd_kafka_resume_partitions(handle, list.pointer), "resume")
        if let error = list.firstError("resume") { throw error }
    }

    /// Moves the read position of assigned `partitions` to their offsets.
    package func seek(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) {
        let list = TopicPartitionList(partitions)
        try check(rd_kafka_seek_partitions(handle, list.pointer, milliseconds(timeout)))
        if let error = list.firstError("seek") { throw error }
    }

    /// For each partition whose `offset` holds a timestamp (epoch ms), the earliest
    /// offset whose timestamp is at or after it (or ``KafkaTopicPartition/endOffset``).
    package func offsetsForTimes(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition] {
        let list = TopicPartitionList(partitions)
        try check(rd_kafka_offsets_for_times(handle, list.pointer, milliseconds(timeout)), "offsets for times")
        if let error = list.firstError("offsets for times") { throw error }
        return list.partitions
    }

    /// The low and high watermarks (first offset, offset after the last message) of a partition.
    package func watermarks(topic: String, partition: Int32, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        try check(rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, milliseconds(timeout)), "watermarks")
        return (low, high)
    }

    /// The high watermark (offset after the last message) of a partition as of the last
    /// fetch, without asking the broker; nil before the first fetch of the partition.
    package func cachedHighWatermark(topic: String, partition: Int32) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// The number of partitions of `topic`, from cluster metadata; nil if it does not exist
    /// within `timeout`.
    package func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int32? {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "cannot create topic handle for '\(topic)'")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        return try Kafka.partitionCount(handle: handle, rkt: rkt, topic: topic, timeout: timeout) {
            usleep(100_000)
        }
    }

    /// The id of the cluster the client's latest metadata came from, waiting at most
    /// `timeout` for metadata; nil while unknown (or from a broker too old to say).
    /// librdkafka only logs a change of cluster, so a caller that must not mix two clusters'
    /// offsets asks again and compares.
    package func clusterID(timeout: Duration = .zero) -> String? {
        guard let id = rd_kafka_clusterid(handle, milliseconds(timeout)) else { return nil }
        defer { rd_kafka_mem_free(handle, id) }
        return String(cString: id)
    }

    /// The offset resets librdkafka made since the last call (reported by librdkafka's threads
    /// as they happen).
    package func takeOffsetResets() -> [KafkaOffsetReset] {
        context.offsetResets.withLock { resets in
            defer { resets.removeAll() }
            return resets
        }
    }

    /// The group metadata for ``KafkaProducer/sendOffsetsToTransaction(_:group:timeout:)``.
    package func groupMetadata() -> KafkaConsumerGroupMetadata {
        KafkaConsumerGroupMetadata(rd_kafka_consumer_group_metadata(handle))
    }

    /// Leaves the group (revoking partitions through the rebalance handler, which may
    /// commit) and stops the consumer, within `timeout`. Idempotent.
    ///
    /// `rd_kafka_consumer_close` waits for the group without a bound (a broker gone holds it
    /// forever), so the close runs in the background and this serves its queue until it is
    /// done or the time is up. Returns whether it finished in time; a consumer that did not
    /// is never destroyed (see deinit), and its group's coordinator holds its partitions
    /// until `session.timeout.ms` passes.
    ///
    /// librdkafka 2.0.2 may assert when closing during a cooperative-sticky rebalance.
    @discardableResult
    package func close(timeout: Duration = KafkaConsumer.closeTimeout) throws(KafkaError) -> Bool {
        guard !closed else { return closedInTime }
        closed = true
        releaseBatch()
        // Queue handles must be gone before the consumer closes (rdkafka.h); the revocation
        // inside the close then finds no partition queue to release.
        fairQueues?.releaseAll()
        let deadline = ContinuousClock.now + timeout
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        try check(rd_kafka_consumer_close_queue(handle, queue))
        while rd_kafka_consumer_closed(handle) == 0 {
            let left = deadline - .now
            guard left > .zero else {
                context.handler = nil
                return false
            }
            guard let event = rd_kafka_queue_poll(queue, min(100, milliseconds(left))) else { continue }
            // Served as events, the close's revocation does not reach the rebalance callback:
            // it is handed over here (and unassigns, which the close waits for). Other events
            // are of no use any more.
            if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                rebalance(rd_kafka_event_error(event), rd_kafka_event_topic_partition_list(event))
            }
            rd_kafka_event_destroy(event)
        }
        context.handler = nil
        closedInTime = true
        return true
    }

    /// `partition.assignment.strategy` as the client runs with it (librdkafka's default included).
    private static func assignmentStrategy(of handle: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard rd_kafka_conf_get(rd_kafka_conf(handle), "partition.assignment.strategy", &buffer, &size) == RD_KAFKA_CONF_OK else {
            return ""
        }
        return string(fromNulTerminated: buffer)
    }

    fileprivate func rebalance(_ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = rebalancesIncrementally
        let list = TopicPartitionList.read(partitions)
        // Fair mode: partition queues are split off before their fetching starts (so
        // no message of theirs enters the shared queue), and released before the
        // partitions are unassigned (whose fetch stop then purges what they hold).
        let fair = fairQueues
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if let startOffset, let partitions {
                for index in 0..<Int(partitions.pointee.cnt) {
                    let element = partitions.pointee.elems + index
                    if let offset = startOffset(String(cString: element.pointee.topic), element.pointee.partition) {
                        element.pointee.offset = offset
                    }
                }
            }
            if !cooperative { fair?.detachAll() }
            fair?.attach(list)
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, partitions) {
                    fair?.detach(list)
                    context.events.append(.error(KafkaError(consuming: error)))
                }
            } else {
                let e = rd_kafka_assign(handle, partitions)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR {
                    fair?.detachAll()
                    context.events.append(.error(KafkaError(e, message: "assign")))
                }
            }
            // Before anything is fetched: the partitions the budget has no room for wait.
            if let partitions, fair?.budget != nil { learnBacklogs(of: TopicPartitionList.read(partitions)) }
            try? balancePrefetch(purgeUpTo: nil)
            deliver(.assigned(list))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            deliver(rd_kafka_assignment_lost(handle) != 0 ? .lost(list) : .revoked(list))
            let held = budgetPaused(among: cooperative ? list : nil)
            if cooperative { fair?.detach(list) } else { fair?.detachAll() }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, partitions) {
                    context.events.append(.error(KafkaError(consuming: error)))
                }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            releaseBudgetPauses(held)
        default:
            context.events.append(.error(KafkaError(err, message: "rebalance failed: \(String(cString: rd_kafka_err2str(err)))")))
            let held = budgetPaused(among: nil)
            fair?.detachAll()
            _ = rd_kafka_assign(handle, nil)
            releaseBudgetPauses(held)
        }
    }

    private func deliver(_ event: KafkaRebalanceEvent) {
        context.events.append(.rebalance(event))
        context.handler?(self, event)
    }
}

/// The state librdkafka's callbacks reach through the conf opaque pointer.
///
/// Lifetime: owned by its ``KafkaConsumer``; the consumer destroys its
/// `rd_kafka_t` (the only caller of the callbacks) in deinit before the
/// context is released, and callbacks only run on the polling thread.
final class ConsumerContext {
    unowned(unsafe) var consumer: KafkaConsumer?
    var handler: KafkaRebalanceHandler?
    var events: [KafkaConsumerEvent] = []
    let topics = TopicNameCache()
    /// Written by librdkafka's threads (the log callback), taken by the polling thread.
    let offsetResets = Mutex<[KafkaOffsetReset]>([])

    init(handler: KafkaRebalanceHandler?) { self.handler = handler }

    func takeEvents() -> [KafkaConsumerEvent] {
        if events.isEmpty { return [] }
        defer { events = [] }
        return events
    }
}

private let consumerRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, err, partitions, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    if let consumer = context.consumer {
        consumer.rebalance(err, partitions)
    } else {
        _ = rd_kafka_assign(rk, nil)
    }
}

private let consumerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _, err, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    context.events.append(.error(KafkaError(code: err, message: reason.map { String(cString: $0) })))
}

private let consumerCommitCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { _, err, _, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    // _NO_OFFSET: nothing was stored to commit, which is no failure.
    let failed = err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET
    context.events.append(.committed(failed ? KafkaError(err, message: "commit: \(String(cString: rd_kafka_err2str(err)))") : nil))
}

/// librdkafka reports an offset reset (a fetch offset out of range: retention overtook the
/// consumer, or the partition was truncated) only in its log, so the log callback reads it
/// there, and prints every line as librdkafka would by itself.
private let consumerLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, line in
    rd_kafka_log_print(rk, level, facility, line)
    guard let rk, let facility, let line, strcmp(facility, "OFFSET") == 0, let opaque = rd_kafka_opaque(rk),
        let reset = KafkaOffsetReset(logLine: String(cString: line))
    else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    context.offsetResets.withLock { resets in
        // Nobody may be taking them (a consumer that only restores): a bounded few say enough.
        if resets.count < 1000 { resets.append(reset) }
    }
}

/// A consumer's group metadata, passed to a transactional producer.
package final class KafkaConsumerGroupMetadata: @unchecked Sendable {
    // @unchecked Sendable: the wrapped rd_kafka_consumer_group_metadata_t is
    // immutable after creation and only read by librdkafka.
    let pointer: OpaquePointer?

    init(_ pointer: OpaquePointer?) { self.pointer = pointer }

    /// Metadata for a group id alone (no generation), e.g. for a consumer in another process.
    package convenience init(groupID: String) {
        self.init(rd_kafka_consumer_group_metadata_new(groupID))
    }

    deinit { if let pointer { rd_kafka_consumer_group_metadata_destroy(pointer) } }
}
