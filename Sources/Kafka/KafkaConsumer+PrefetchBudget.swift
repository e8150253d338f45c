// Keeps a fair consumer's prefetch under its budget: partitions with a backlog take turns
// at fetching, paused while they wait, and caught-up partitions are never held back.
import CRdKafka

/// What the budget knows of one partition queue.
struct PrefetchSlot {
    /// An end of partition was read since its last backlog: librdkafka has fetched all the
    /// broker had, so the queue holds what it holds and grows only with new records.
    var caughtUp = false
    /// Paused by the budget, waiting for room.
    var waiting = false
    /// When it started waiting (``PartitionQueues/pauseSequence``).
    var waitingSince = 0
    /// Paused by the application: the budget neither counts nor resumes it.
    var pausedByApplication = false
    /// Paused inside a rebalance callback, where its queue could not be popped: its
    /// outdated records still take memory until the next poll drops them.
    var needsPurge = false
    /// Key and value bytes read from the queue, and records: their average prices the queue.
    var consumedBytes = 0
    var consumedMessages = 0
    /// Bytes read since it last started fetching with a backlog (its turn so far).
    var turnBytes = 0
    /// The offset after the last record read, -1 before the first.
    var nextOffset: Int64 = -1
    /// Where reading starts, when known (asked at assignment): with ``knownEnd``, the backlog.
    var startOffset: Int64 = -1
    /// The partition's end, as last known (asked at assignment, then from fetch responses).
    var knownEnd: Int64 = -1

    /// The next offset to read, when known.
    var position: Int64 { nextOffset >= 0 ? nextOffset : startOffset }

    mutating func consumed(bytes: Int, messages: Int, nextOffset: Int64) {
        consumedBytes &+= bytes
        consumedMessages &+= messages
        turnBytes &+= bytes
        self.nextOffset = nextOffset
    }

    func averageSize(otherwise fallback: Int) -> Int {
        consumedMessages > 0 ? consumedBytes / consumedMessages : fallback
    }
}

// The choice, and why (librdkafka 2.0.2; see `PartitionQueues` for what it does):
// - Bounds per partition cannot follow the assignment: they are fixed when the consumer is
//   created, and budget/partitions would starve a busy partition among idle ones (2.0.2
//   refills a full queue only when its broker thread next wakes: at the next fetch response
//   of another partition, 100 ms with `fetch.wait.max.ms=100`, or up to a second later).
// - So each partition keeps a generous bound (``PrefetchBudget/partitionShare``) and the
//   consumer limits how many partitions may be filling at once. A partition that may fetch
//   and has (or may have) a backlog is charged its full bound, or its backlog when that is
//   known to be smaller (asked at assignment when the bounds would not all fit); a caught-up
//   one (its end was fetched) is charged what it holds. Partitions are paused when the charges
//   pass the budget and resumed, first paused first, when there is room. This holds the
//   budget at every poll whatever librdkafka fetches meanwhile: only new records arriving on
//   a caught-up partition can overshoot it, by up to one bound each until the next poll.
// - Pausing drops what the queue holds (refetched on resume), so the budget pauses the
//   partitions with a backlog that hold least, never a caught-up one (a quiet app's record is
//   not held back), and at assignment, before anything was fetched, the highest-numbered
//   partitions (topics of one partition, often the quiet apps', keep theirs).
// - A partition that never catches up (more keeps arriving) yields its turn to waiting ones
//   after reading ``turnShares`` shares, so none waits for ever.
extension KafkaConsumer {
    /// Shares of records a partition with a backlog reads before it yields to waiting ones.
    static var turnShares: Int { 4 }

    /// Pauses and resumes partitions so that their charges stay within the budget.
    /// - Parameter purgeUpTo: a batch size when the batch is empty and the queues of paused
    ///   partitions may be popped (what they return is accepted into it); nil inside
    ///   rebalance callbacks.
    func balancePrefetch(purgeUpTo maxMessages: Int?) throws(KafkaError) {
        guard let fair = fairQueues, let budget = fair.budget else { return }
        let n = fair.queues.count
        guard n > 0 else { return }
        var fallbackSize = PrefetchBudget.assumedRecordSize
        var bytes = 0
        var messages = 0
        for slot in fair.slots {
            bytes &+= slot.consumedBytes
            messages &+= slot.consumedMessages
        }
        if messages > 0 { fallbackSize = max(1, bytes / messages) }

        var charges = 0
        var filling = 0
        for i in 0..<n {
            if fair.slots[i].waiting || fair.slots[i].pausedByApplication {
                if fair.slots[i].needsPurge, let maxMessages { try purge(i, of: fair, upTo: maxMessages) }
                fair.costs[i] = 0
                continue
            }
            let size = fair.slots[i].averageSize(otherwise: fallbackSize)
            let cost = budget.cost(messages: rd_kafka_queue_length(fair.queues[i]), averageSize: size)
            fair.costs[i] = cost
            // A fetch's worth arrived since it caught up: it has a backlog again.
            if fair.slots[i].caughtUp, cost > budget.cost(messages: budget.fetchBytes / size + 1, averageSize: size) {
                fair.slots[i].caughtUp = false
                fair.slots[i].turnBytes = 0
            }
            // Or the last fetch response's end of the partition is already queued: it has
            // caught up without waiting for the end-of-partition event, which comes only with
            // the next (long-polling) fetch response.
            if !fair.slots[i].caughtUp, fair.slots[i].nextOffset >= 0, hasFetchedAll(i, of: fair) {
                fair.slots[i].caughtUp = true
            }
            if fair.slots[i].caughtUp {
                charges += cost
            } else {
                charges += max(cost, claim(i, of: fair, size: size))
                filling += 1
            }
        }

        // Over budget: the filling partitions that hold least wait (one keeps filling, so
        // that records keep coming whatever the budget).
        while charges > budget.total, filling > 1, let victim = cheapestFilling(fair) {
            charges -= max(fair.costs[victim], claim(victim, of: fair, size: fair.slots[victim].averageSize(otherwise: fallbackSize)))
            filling -= 1
            try pauseForBudget(victim, of: fair, purgeUpTo: maxMessages)
        }
        guard var next = firstWaiting(fair) else { return }

        // No room for the one that waited longest: a partition that had a long turn yields it.
        let nextClaim = claim(next, of: fair, size: fair.slots[next].averageSize(otherwise: fallbackSize))
        if charges + nextClaim > budget.total, let long = longestTurn(fair, over: Self.turnShares * budget.partitionShare) {
            charges -= max(fair.costs[long], claim(long, of: fair, size: fair.slots[long].averageSize(otherwise: fallbackSize)))
            filling -= 1
            try pauseForBudget(long, of: fair, purgeUpTo: maxMessages)
        }

        // Room: the partitions that waited longest fetch again.
        while true {
            let claim = claim(next, of: fair, size: fair.slots[next].averageSize(otherwise: fallbackSize))
            guard charges + claim <= budget.total || filling == 0 else { return }
            resumeForBudget(next, of: fair)
            charges += claim
            filling += 1
            guard let following = firstWaiting(fair) else { return }
            next = following
        }
    }

    /// True when the partition's end, as of the last fetch response, is already in its queue.
    private func hasFetchedAll(_ index: Int, of fair: PartitionQueues) -> Bool {
        var low: Int64 = -1
        var high: Int64 = -1
        let tp = fair.partitions[index]
        guard rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
            high >= 0
        else { return false }
        fair.slots[index].knownEnd = max(fair.slots[index].knownEnd, high)
        // Offsets may skip (compaction, transaction markers): then this only errs on "not yet".
        return high <= fair.slots[index].nextOffset + Int64(rd_kafka_queue_length(fair.queues[index]))
    }

    /// What a partition that may fetch can come to hold: its bound, or less when its backlog
    /// is known to be smaller (plus a fetch response of records arriving meanwhile).
    private func claim(_ index: Int, of fair: PartitionQueues, size: Int) -> Int {
        let budget = fair.budget.unsafelyUnwrapped
        let full = budget.fullClaim(averageSize: size)
        let slot = fair.slots[index]
        guard slot.knownEnd >= 0, slot.position >= 0 else { return full }
        let backlog = Int(clamping: max(0, slot.knownEnd - slot.position))
        return min(full, budget.cost(messages: backlog + budget.fetchBytes / max(1, size) + 1, averageSize: size))
    }

    /// Learns the backlog of newly assigned partitions (two requests: their ends, and the
    /// group's committed offsets), when charging each its whole bound would keep some waiting:
    /// small backlogs then fetch side by side instead of in turns. Without answers in time
    /// they are charged their bounds.
    func learnBacklogs(of partitions: [KafkaTopicPartition]) {
        guard let fair = fairQueues, let budget = fair.budget, partitions.count > 1,
            partitions.count * budget.fullClaim(averageSize: PrefetchBudget.assumedRecordSize) > budget.total
        else { return }
        let query = partitions.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition, offset: KafkaTopicPartition.endOffset) }
        guard let ends = try? offsetsForTimes(query, timeout: .seconds(5)) else { return }
        let unresolved = partitions.filter { $0.offset < 0 }
        let committed = unresolved.isEmpty ? [] : (try? committed(unresolved, timeout: .seconds(5))) ?? []
        for (tp, end) in zip(partitions, ends) where end.offset >= 0 {
            guard let i = fair.partitions.firstIndex(where: { $0.topic == tp.topic && $0.partition == tp.partition }) else { continue }
            var start = tp.offset
            if start < 0 {
                start = committed.first(where: { $0.topic == tp.topic && $0.partition == tp.partition })?.offset ?? -1
            }
            // No committed offset: auto.offset.reset decides; from the beginning is charged
            // as from offset 0, which can only overstate the backlog.
            if start < 0 { start = budget.startsAtEnd ? end.offset : 0 }
            fair.slots[i].startOffset = start
            fair.slots[i].knownEnd = end.offset
        }
    }

    /// The filling partition holding least; among equals (nothing fetched yet), the
    /// highest-numbered one.
    private func cheapestFilling(_ fair: PartitionQueues) -> Int? {
        var best: Int?
        for i in 0..<fair.queues.count {
            let slot = fair.slots[i]
            guard !slot.waiting, !slot.pausedByApplication, !slot.caughtUp else { continue }
            guard let b = best else {
                best = i
                continue
            }
            if fair.costs[i] < fair.costs[b]
                || (fair.costs[i] == fair.costs[b] && fair.partitions[i].partition > fair.partitions[b].partition)
            {
                best = i
            }
        }
        return best
    }

    private func firstWaiting(_ fair: PartitionQueues) -> Int? {
        var first: Int?
        for i in 0..<fair.queues.count where fair.slots[i].waiting && !fair.slots[i].pausedByApplication {
            if first.map({ fair.slots[i].waitingSince < fair.slots[$0].waitingSince }) ?? true { first = i }
        }
        return first
    }

    private func longestTurn(_ fair: PartitionQueues, over limit: Int) -> Int? {
        var longest: Int?
        for i in 0..<fair.queues.count {
            let slot = fair.slots[i]
            guard !slot.waiting, !slot.pausedByApplication, !slot.caughtUp, slot.turnBytes >= limit else { continue }
            if longest.map({ slot.turnBytes > fair.slots[$0].turnBytes }) ?? true { longest = i }
        }
        return longest
    }

    private func pauseForBudget(_ index: Int, of fair: PartitionQueues, purgeUpTo maxMessages: Int?) throws(KafkaError) {
        let list = TopicPartitionList(CollectionOfOne(fair.partitions[index]))
        _ = rd_kafka_pause_partitions(handle, list.pointer)
        fair.pauseSequence += 1
        fair.slots[index].waiting = true
        fair.slots[index].waitingSince = fair.pauseSequence
        fair.slots[index].caughtUp = false
        fair.slots[index].turnBytes = 0
        fair.slots[index].needsPurge = true
        fair.pauses += 1
        if let maxMessages { try purge(index, of: fair, upTo: maxMessages) }
    }

    private func resumeForBudget(_ index: Int, of fair: PartitionQueues) {
        let list = TopicPartitionList(CollectionOfOne(fair.partitions[index]))
        _ = rd_kafka_resume_partitions(handle, list.pointer)
        fair.slots[index].waiting = false
        fair.slots[index].turnBytes = 0
    }

    /// Pops the queue of a partition just paused: its records are outdated, and popping
    /// drops them (freeing their memory) instead of leaving them until it is resumed.
    private func purge(_ index: Int, of fair: PartitionQueues, upTo maxMessages: Int) throws(KafkaError) {
        fair.slots[index].needsPurge = false
        while batchCount < maxMessages, let message = rd_kafka_consume_queue(fair.queues[index], 0) {
            try accept(message)
        }
    }

    /// Before partitions are unassigned: those the budget paused are resumed once
    /// unassigned (librdkafka keeps an application pause across assignments), else a
    /// later assignment of them would never fetch.
    func budgetPaused(among partitions: [KafkaTopicPartition]?) -> [KafkaTopicPartition] {
        guard let fair = fairQueues, fair.budget != nil else { return [] }
        var paused: [KafkaTopicPartition] = []
        for i in 0..<fair.queues.count where fair.slots[i].waiting && !fair.slots[i].pausedByApplication {
            let tp = fair.partitions[i]
            if partitions?.contains(where: { $0.topic == tp.topic && $0.partition == tp.partition }) ?? true { paused.append(tp) }
        }
        return paused
    }

    /// After `partitions` were unassigned: clears the budget's pause of them.
    func releaseBudgetPauses(_ partitions: [KafkaTopicPartition]) {
        guard !partitions.isEmpty else { return }
        let list = TopicPartitionList(partitions)
        _ = rd_kafka_resume_partitions(handle, list.pointer)
    }

    /// The application pauses or resumes `partitions`: the budget leaves them alone while
    /// paused; on resume, those it holds back still wait for room. Returns the partitions to
    /// resume now.
    func applicationPaused(_ partitions: [KafkaTopicPartition], _ paused: Bool) -> [KafkaTopicPartition] {
        guard let fair = fairQueues, fair.budget != nil else { return partitions }
        var resumeNow: [KafkaTopicPartition] = []
        for tp in partitions {
            guard let i = fair.partitions.firstIndex(where: { $0.topic == tp.topic && $0.partition == tp.partition }) else {
                resumeNow.append(tp)
                continue
            }
            fair.slots[i].pausedByApplication = paused
            if !fair.slots[i].waiting { resumeNow.append(tp) }
        }
        return resumeNow
    }

    // MARK: Test hooks

    /// Partitions the prefetch budget holds back now.
    package var prefetchWaitingPartitions: Int { fairQueues?.slots.filter(\.waiting).count ?? 0 }

    /// Partitions known to have caught up (the budget charges them only what they hold).
    package var prefetchCaughtUpPartitions: Int { fairQueues?.slots.filter(\.caughtUp).count ?? 0 }

    /// Times the prefetch budget paused a partition.
    package var prefetchPauses: Int { fairQueues?.pauses ?? 0 }

    /// The prefetch budget in bytes, nil without one.
    package var prefetchBudget: Int? { fairQueues?.budget?.total }

    /// What the budget adds to each queued record's key and value in its estimates.
    package static var prefetchRecordOverhead: Int { PrefetchBudget.recordOverhead }
}
