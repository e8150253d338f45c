// Fair mode of the consumer: each assigned partition keeps its own fetch queue and
// polls take from them in turn, so a quiet partition never waits behind a hot one.
import CRdKafka

/// The partition queues of a fair consumer and the one wake-up descriptor that
/// librdkafka signals when any of them, or the consumer queue, goes from empty
/// to non-empty.
///
/// librdkafka semantics this relies on (2.0.2):
/// - `rd_kafka_queue_forward(pq, NULL)` sets a flag on the partition's fetch queue
///   that stops fetch start from forwarding it to the consumer queue, for the life
///   of the partition object; splitting before `assign` therefore keeps every
///   message of the partition in its own queue. The queue stays split after its
///   handle is released (a fair consumer stays fair), and a later assignment
///   splits it again.
/// - Fetch stop (unassign) and pause purge the partition's queue wherever it is;
///   seek bumps its version and outdated messages are dropped when popped.
/// - A queue signals its descriptor when an op makes it non-empty, once until a
///   reader serves it again (every pop, even of an empty queue, re-arms it).
///   So: reset the descriptor, look at every queue, then wait; a message that
///   arrives after the look writes the descriptor.
/// - Pause bumps the partition's version at once: what its queue holds is outdated
///   (dropped, and its memory freed, when the queue is next popped), and resume fetches
///   again from the application's position. A resume bumps the version too, even of a
///   partition that is not paused (its queue is fetched a second time), and a partition's
///   application pause survives its revocation. (Tried against the mock cluster.)
/// - `rd_kafka_consume_queue` goes through the same path as
///   `rd_kafka_consumer_poll` (offset store, app position, max.poll.interval,
///   control messages), unlike `rd_kafka_consume_batch_queue`, which is unsafe
///   with seek/pause/rebalance before 2.1.0.
///
/// Used only on the polling thread of its consumer.
final class PartitionQueues {
    private let handle: OpaquePointer
    /// The consumer queue (rebalances, errors, messages of partitions not split).
    private var consumerQueue: OpaquePointer?
    /// The end polls wait on, and the end librdkafka writes to (the same eventfd on Linux).
    let wakeup: Int32
    private let wakeupWriter: Int32
    private(set) var partitions: [KafkaTopicPartition] = []
    private(set) var queues: [OpaquePointer] = []
    /// What the prefetch budget knows of each queue, in the order of `queues`.
    var slots: [PrefetchSlot] = []
    /// The budget of all queues together, nil when unlimited (each partition then keeps
    /// librdkafka's bounds).
    let budget: PrefetchBudget?
    /// Scratch for the budget: each queue's estimated cost at the last look.
    var costs: [Int] = []
    /// Orders the partitions the budget paused: the one paused first is resumed first.
    var pauseSequence = 0
    /// Where the next poll's first round starts.
    var cursor = 0
    /// Scratch: indices of queues that filled their quota in the current round.
    var refill: UnsafeMutablePointer<Int>
    var refillCapacity = 0
    private var finished = false

    /// Times a poll waited on the descriptor (a test hook: an idle poll waits once
    /// or a few times, not in a loop).
    var waits = 0
    /// Times a poll looked at all queues.
    var looks = 0
    /// Times the prefetch budget paused a partition (a test hook).
    var pauses = 0

    init(handle: OpaquePointer, budget: PrefetchBudget?) throws(KafkaError) {
        self.handle = handle
        self.budget = budget
        var writer: Int32 = -1
        let fd = tdk_wakeup_open(&writer)
        guard fd >= 0 else {
            throw KafkaError(code: KafkaError.invalidState, message: "cannot create the fair consumer's wake-up descriptor")
        }
        wakeup = fd
        wakeupWriter = writer
        refill = .allocate(capacity: 0)
        consumerQueue = rd_kafka_queue_get_consumer(handle)
        if let consumerQueue { tdk_queue_wake_on(consumerQueue, writer) }
    }

    deinit {
        refill.deallocate()
    }

    /// Splits off and watches the queues of `added` (already split ones are kept).
    func attach(_ added: [KafkaTopicPartition]) {
        guard !finished else { return }
        for tp in added where !partitions.contains(where: { $0.topic == tp.topic && $0.partition == tp.partition }) {
            guard let queue = rd_kafka_queue_get_partition(handle, tp.topic, tp.partition) else { continue }
            rd_kafka_queue_forward(queue, nil)
            tdk_queue_wake_on(queue, wakeupWriter)
            partitions.append(KafkaTopicPartition(topic: tp.topic, partition: tp.partition))
            queues.append(queue)
            slots.append(PrefetchSlot())
            costs.append(0)
        }
        if queues.count > refillCapacity {
            refill.deallocate()
            refillCapacity = queues.count
            refill = .allocate(capacity: refillCapacity)
        }
        cursor = 0
    }

    /// Releases the queues of `removed`.
    func detach(_ removed: [KafkaTopicPartition]) {
        var i = 0
        while i < queues.count {
            let tp = partitions[i]
            if removed.contains(where: { $0.topic == tp.topic && $0.partition == tp.partition }) {
                release(queues[i])
                queues.remove(at: i)
                partitions.remove(at: i)
                slots.remove(at: i)
                costs.remove(at: i)
            } else {
                i += 1
            }
        }
        cursor = 0
    }

    func detachAll() {
        for queue in queues { release(queue) }
        queues.removeAll()
        partitions.removeAll()
        slots.removeAll()
        costs.removeAll()
        cursor = 0
    }

    /// Before rd_kafka_consumer_close: releases every queue handle; nothing is attached afterwards.
    func releaseAll() {
        detachAll()
        if let consumerQueue {
            tdk_queue_wake_on(consumerQueue, -1)
            rd_kafka_queue_destroy(consumerQueue)
        }
        consumerQueue = nil
        finished = true
    }

    /// After rd_kafka_destroy, when nothing can signal the descriptor any more.
    func closeWakeup() { tdk_wakeup_close(wakeup, wakeupWriter) }

    private func release(_ queue: OpaquePointer) {
        // The watch lives on the queue, not the handle: remove it, or librdkafka would
        // write to the descriptor after it is closed (or reused).
        tdk_queue_wake_on(queue, -1)
        rd_kafka_queue_destroy(queue)
    }

    /// The number of ops in the queue of a split partition, nil if not split.
    func length(topic: String, partition: Int32) -> Int? {
        guard let i = partitions.firstIndex(where: { $0.topic == topic && $0.partition == partition }) else { return nil }
        return rd_kafka_queue_length(queues[i])
    }
}

extension KafkaConsumer {
    /// The fair poll: the consumer queue (events, and messages of partitions not
    /// split) first, then the partition queues round-robin; waits on the wake-up
    /// descriptor only when a full look found nothing.
    func pollFair(wait: Int32, maxMessages: Int) throws(KafkaError) {
        let fair = fairQueues.unsafelyUnwrapped
        var reset = false
        var deadline: ContinuousClock.Instant?
        while true {
            fair.looks += 1
            // The batch is empty here: what a purge of a paused queue returns fits.
            try balancePrefetch(purgeUpTo: maxMessages)
            while batchCount < maxMessages, let message = rd_kafka_consumer_poll(handle, 0) {
                try accept(message)
            }
            if batchCount < maxMessages { try serveRoundRobin(fair, maxMessages: maxMessages) }
            if batchCount > 0 || wait == 0 || hasPendingEvents { return }
            if !reset {
                // Reset, then look again: whatever arrives after that look signals.
                tdk_wakeup_drain(fair.wakeup)
                reset = true
                continue
            }
            let now = ContinuousClock.now
            if deadline == nil { deadline = now + .milliseconds(wait) }
            let remaining = deadline.unsafelyUnwrapped - now
            guard remaining > .zero else { return }
            // Round up, so that a sub-millisecond rest does not become a busy poll(0).
            let ms = max(1, milliseconds(remaining + .microseconds(999)))
            fair.waits += 1
            _ = tdk_wakeup_wait(fair.wakeup, ms)
            reset = false
        }
    }

    /// Takes messages from the partition queues: a first round over all of them from
    /// the cursor, each up to an equal share of the free batch space, then further
    /// rounds over those that still had more, until the batch is full or they are empty.
    private func serveRoundRobin(_ fair: PartitionQueues, maxMessages: Int) throws(KafkaError) {
        let n = fair.queues.count
        guard n > 0 else { return }
        let refill = fair.refill
        var refills = 0
        var quota = max(1, (maxMessages - batchCount) / n)
        let start = fair.cursor < n ? fair.cursor : 0
        for step in 0..<n {
            var i = start + step
            if i >= n { i -= n }
            if batchCount >= maxMessages {
                // Cut short (more partitions than batch space): the next poll resumes here.
                fair.cursor = i
                return
            }
            if try take(from: i, of: fair, upTo: quota, maxMessages: maxMessages) {
                refill[refills] = i
                refills += 1
            }
        }
        fair.cursor = start + 1 < n ? start + 1 : 0
        while refills > 0 && batchCount < maxMessages {
            quota = max(1, (maxMessages - batchCount) / refills)
            var kept = 0
            for j in 0..<refills {
                if batchCount >= maxMessages { break }
                let i = refill[j]
                if try take(from: i, of: fair, upTo: quota, maxMessages: maxMessages) {
                    refill[kept] = i
                    kept += 1
                }
            }
            refills = kept
        }
    }

    /// Takes up to `quota` messages of one partition queue; true if it may hold more.
    /// Notes for the budget what the queue's records weigh and when it reached the end.
    @inline(__always)
    private func take(from index: Int, of fair: PartitionQueues, upTo quota: Int, maxMessages: Int) throws(KafkaError) -> Bool {
        let queue = fair.queues[index]
        let limit = min(maxMessages, batchCount + quota)
        var bytes = 0
        var count = 0
        var next: Int64 = 0
        defer {
            if count > 0 { fair.slots[index].consumed(bytes: bytes, messages: count, nextOffset: next) }
        }
        while batchCount < limit {
            guard let message = rd_kafka_consume_queue(queue, 0) else { return false }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                batch[batchCount] = message
                batchCount += 1
                bytes &+= message.pointee.len &+ message.pointee.key_len
                count &+= 1
                next = message.pointee.offset &+ 1
            } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let budget = fair.budget {
                // Everything before it was fetched and the broker had no more: the
                // partition holds no backlog the budget must reserve room for.
                fair.slots[index].caughtUp = true
                if budget.reportsEndOfPartition {
                    try accept(message)
                } else {
                    rd_kafka_message_destroy(message)
                }
            } else {
                try accept(message)
            }
        }
        return true
    }

    // MARK: Test hooks

    /// Waits a fair poll made on its wake-up descriptor so far (0 when not fair).
    package var fairPollWaits: Int { fairQueues?.waits ?? 0 }

    /// Looks at all queues fair polls made so far (0 when not fair).
    package var fairPollLooks: Int { fairQueues?.looks ?? 0 }

    /// The number of ops queued in librdkafka for this consumer: in the consumer
    /// queue and, in fair mode, in the partition queues.
    package var queuedMessageCount: Int {
        guard let queue = rd_kafka_queue_get_consumer(handle) else { return 0 }
        defer { rd_kafka_queue_destroy(queue) }
        var count = rd_kafka_queue_length(queue)
        for q in fairQueues?.queues ?? [] { count += rd_kafka_queue_length(q) }
        return count
    }

    /// The number of ops in a fair consumer's queue of one partition (nil if not split).
    package func queuedMessageCount(topic: String, partition: Int32) -> Int? {
        fairQueues?.length(topic: topic, partition: partition)
    }
}
