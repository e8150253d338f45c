// The consumer loop of `tidemark run`: one consumer in the group, its partitions spread over
// shards by partition number. Each poll's batch is split by shard and the shards step in
// parallel (one on this thread, the others on their own threads), then the loop notes what
// was processed and commits what every shard's outputs make safe. Records of one partition,
// and so of one device, stay in order.
import Foundation
import Kafka
import Logging
import Synchronization

/// The state of the polling thread: nothing here is shared outside a step's barrier.
final class ConsumerLoop {
    private unowned let pipeline: Pipeline
    private let consumer: KafkaConsumer
    private let shards: [Shard]
    private let threads: [ShardThread]
    /// Per shard, the positions of this batch's messages that belong to it.
    private var positions: [[Int]]
    /// Where this process stopped in partitions it no longer holds: its window state covers
    /// every record before, so if a partition comes back, reading resumes there rather than
    /// at a commit that may have failed (no record is applied twice).
    private var resumePositions: [String: [Int32: Int64]] = [:]
    private var subscribedTopics: [String] = []
    /// Counts already added to the metrics, per app.
    private var published: [String: AppCounts] = [:]
    private var lastTick: Int64 = 0
    private var lastMetrics: Int64 = 0
    private var loggedErrors = 0
    /// The partitions this consumer holds now.
    private var assigned: Set<CommitTracker.Partition> = []
    /// The offsets this process last committed, per partition.
    private var committed: [CommitTracker.Partition: Int64] = [:]
    private var connection: ConnectionWatch
    private var logger: Logger { pipeline.logger }

    /// How often idle flushes, `every` periods, commits and metrics are taken care of.
    static let tickMillis: Int64 = 100

    init(pipeline: Pipeline) throws {
        self.pipeline = pipeline
        shards = try (0..<pipeline.shardCount).map { (index) throws(KafkaError) in
            try Shard(index: index, producerConfig: pipeline.producerConfig, logger: pipeline.logger)
        }
        threads = shards.dropFirst().map { ShardThread(shard: $0) }
        positions = Array(repeating: [], count: shards.count)
        let config = pipeline.consumerConfig
        connection = ConnectionWatch(
            patience: config["session.timeout.ms"].flatMap { Int64($0) } ?? 45_000,
            reconnectBackoff: config["reconnect.backoff.max.ms"].flatMap { Int64($0) } ?? 10_000)
        // The handler runs inside `poll`/`close` on this thread, while no step is running.
        weak var target: ConsumerLoop?
        // Fair partitions: a quiet app's record is not queued behind a hot topic's backlog.
        consumer = try KafkaConsumer(config: pipeline.consumerConfig, fairPartitions: true) { _, event in
            target?.rebalanced(event)
        }
        target = self
        consumer.startOffset = { topic, partition in target?.resumePositions[topic]?.removeValue(forKey: partition) }
    }

    /// Polls and processes until `stop` is requested, then drains: delivers what is in
    /// flight, commits and leaves the group. A delivery that fails for good ends the loop
    /// the same way, committing only what precedes it, and throws.
    func run(until stop: StopRequest) throws {
        defer { for thread in threads { thread.finish() } }
        pipeline.health.set(.ok)
        while !stop.isRequested {
            if let apps = pipeline.pendingApps.withLock({ pending in defer { pending = nil }; return pending }) {
                try install(apps)
            }
            let poll = try consumer.poll(timeout: .milliseconds(Self.tickMillis), maxMessages: 4096)
            let now = pipeline.clock()
            observe(poll, at: now)
            let tick = now - lastTick >= Self.tickMillis
            if tick { lastTick = now }
            step(poll.messages, now: now, tick: tick)
            if let failure = shards.lazy.compactMap(\.sink.tracker.failure).first {
                throw fail(failure.reason)
            }
            if tick {
                commit(asynchronously: true)
                if now - lastMetrics >= 1000 {
                    lastMetrics = now
                    publishMetrics(now)
                    if !subscribedTopics.isEmpty { pipeline.health.set(connection.status(at: now)) }
                }
            }
        }
        drain()
    }

    /// Splits the batch by shard, steps every shard (in parallel), then notes the offsets
    /// processed in each shard's commit tracker.
    private func step(_ messages: KafkaMessageBatch, now: Int64, tick: Bool) {
        guard !messages.isEmpty || tick else { return }
        if threads.isEmpty {
            shards[0].step(messages, positions: messages.indices, now: now, tick: tick)
        } else {
            for index in positions.indices { positions[index].removeAll(keepingCapacity: true) }
            for (position, message) in messages.enumerated() {
                positions[Int(message.partition) % shards.count].append(position)
            }
            let batch = UnsafeBatch(messages: messages)
            for (offset, thread) in threads.enumerated() {
                thread.begin(batch, positions: positions[offset + 1], now: now, tick: tick)
            }
            shards[0].step(messages, positions: positions[0], now: now, tick: tick)
            for thread in threads { thread.waitUntilDone() }
        }
        notePositions(of: messages)
        pipeline.consumed.add(messages.count, ordering: .relaxed)
    }

    /// For each partition in the batch, the offset after its last message.
    private func notePositions(of messages: KafkaMessageBatch) {
        var position = messages.count - 1
        var seen: Set<Int32> = []
        var topic = ""
        var partition: Int32 = -1
        while position >= 0 {
            let message = messages[position]
            position -= 1
            let messageTopic = message.topic
            // Messages come in runs of one partition: only a run's end is news.
            if messageTopic == topic && message.partition == partition { continue }
            if messageTopic != topic {
                topic = messageTopic
                seen.removeAll(keepingCapacity: true)
            }
            partition = message.partition
            guard seen.insert(partition).inserted else { continue }
            shards[Int(partition) % shards.count].sink.processed(
                CommitTracker.Partition(topic: topic, partition: partition), nextOffset: message.offset + 1)
        }
    }

    private func commit(asynchronously: Bool) {
        let offsets = shards.flatMap { $0.sink.takeCommittable() }
        guard !offsets.isEmpty else { return }
        for (partition, offset) in offsets { committed[partition] = offset }
        do {
            try consumer.commit(
                offsets.map { KafkaTopicPartition(topic: $0.partition.topic, partition: $0.partition.partition, offset: $0.offset) },
                asynchronously: asynchronously)
        } catch {
            logger.warning("commit failed; the next one includes it", metadata: ["error": "\(error)"])
        }
    }

    /// What a poll says about the connection, besides its messages.
    private func observe(_ poll: KafkaConsumerPoll, at now: Int64) {
        if !poll.messages.isEmpty { connection.reachedBroker() }
        for event in poll.events {
            switch event {
            case .error(let error):
                clientError(error)
                connection.error(error, at: now)
            case .committed(let error):
                connection.committed(error, at: now)
                if let error { logger.warning("commit failed; the next one includes it", metadata: ["error": "\(error)"]) }
            case .rebalance, .partitionEOF:
                break
            }
        }
        if shards.contains(where: { $0.sink.takeAcknowledgedAny() }) { connection.reachedBroker() }
    }

    private func clientError(_ error: KafkaError) {
        // An outage repeats the same error many times a second; librdkafka retries by itself,
        // so a few lines say enough.
        loggedErrors += 1
        pipeline.metrics.countClientErrors(1)
        if loggedErrors <= 10 || loggedErrors % 1000 == 0 {
            logger.warning("kafka", metadata: ["error": "\(error)", "count": "\(loggedErrors)"])
        }
    }

    private func publishMetrics(_ now: Int64) {
        var totals: [String: (counts: AppCounts, watermark: Int64?)] = [:]
        for shard in shards {
            for (name, processor) in shard.processors {
                var total = totals[name] ?? (AppCounts(), nil)
                total.counts.add(processor.counts)
                if let watermark = processor.maxWatermark { total.watermark = max(total.watermark ?? watermark, watermark) }
                totals[name] = total
            }
        }
        for (name, total) in totals {
            let app = pipeline.metrics.app(name)
            app.add(total.counts.subtracting(published[name] ?? AppCounts()))
            // A watermark ahead of the wall clock (readings dated in the future) is no lag.
            if let watermark = total.watermark { app.setWatermarkLag(milliseconds: max(0, now - watermark)) }
            published[name] = total.counts
        }
        publishConsumerLags(now)
        for shard in shards {
            pipeline.metrics.observeEmitLatency(shard.sink.takeLatencies())
            pipeline.metrics.countClientErrors(shard.sink.takeClientErrors())
        }
    }

    /// The lag of every partition held: its end minus the position processed (or, before any
    /// record of it was, the last offset this process committed). Without a broker the cached
    /// ends are stale, and a position may not be known yet: such a lag is unknown (NaN), not 0.
    private func publishConsumerLags(_ now: Int64) {
        var processed: [CommitTracker.Partition: Int64] = [:]
        for shard in shards {
            for (partition, offset) in shard.sink.tracker.readPositions { processed[partition] = offset }
        }
        let disconnected = connection.isDisconnected(at: now)
        for partition in assigned {
            let position = processed[partition] ?? committed[partition]
            let high = disconnected ? nil : consumer.cachedHighWatermark(topic: partition.topic, partition: partition.partition)
            var lag = Double.nan
            if let position, let high { lag = Double(max(0, high - position)) }
            pipeline.metrics.setConsumerLag(topic: partition.topic, partition: partition.partition, lag: lag)
        }
    }

    /// Switches every shard to a new app set and follows its topics.
    private func install(_ apps: [AppDefinition]) throws {
        for shard in shards { shard.install(apps) }
        let names = Set(apps.map(\.name))
        for name in published.keys where !names.contains(name) {
            published[name] = nil
            pipeline.metrics.remove(app: name)
        }
        let topics = shards[0].topics
        guard topics != subscribedTopics else { return }
        subscribedTopics = topics
        try consumer.subscribe(topics: topics)
        connection.assignment(isEmpty: assigned.isEmpty, at: pipeline.clock())
        logger.info("subscribed", metadata: ["topics": "\(topics.joined(separator: ","))"])
    }

    /// Before partitions go, every output derived from them is flushed and their offsets
    /// committed, so the next owner starts exactly where this one stopped.
    private func rebalanced(_ event: KafkaRebalanceEvent) {
        let now = pipeline.clock()
        switch event {
        case .assigned(let partitions):
            assigned.formUnion(partitions.map { CommitTracker.Partition(topic: $0.topic, partition: $0.partition) })
            logger.info("partitions assigned", metadata: ["partitions": "\(describe(partitions))"])
        case .revoked(let partitions):
            for shard in shards { shard.sink.flush(timeout: .seconds(30)) }
            commit(asynchronously: false)
            release(partitions)
            logger.info("partitions revoked", metadata: ["partitions": "\(describe(partitions))"])
        case .lost(let partitions):
            release(partitions)
            logger.warning("partitions lost", metadata: ["partitions": "\(describe(partitions))"])
        }
        connection.assignment(isEmpty: assigned.isEmpty, at: now)
    }

    private func release(_ partitions: [KafkaTopicPartition]) {
        for p in partitions {
            assigned.remove(CommitTracker.Partition(topic: p.topic, partition: p.partition))
            pipeline.metrics.removeConsumerLag(topic: p.topic, partition: p.partition)
            let shard = shards[Int(p.partition) % shards.count]
            if let position = shard.sink.forget(CommitTracker.Partition(topic: p.topic, partition: p.partition)) {
                resumePositions[p.topic, default: [:]][p.partition] = position
            }
        }
    }

    private func describe(_ partitions: [KafkaTopicPartition]) -> String {
        partitions.map { "\($0.topic)/\($0.partition)" }.joined(separator: ",")
    }

    /// Stops reading, delivers everything in flight, commits, and leaves the group.
    private func drain() {
        for shard in shards { shard.sink.flush(timeout: .seconds(30)) }
        commit(asynchronously: false)
        publishMetrics(pipeline.clock())
        closeConsumer()
        logger.info("drained", metadata: ["in-flight": "\(shards.map(\.sink.tracker.inFlight).reduce(0, +))"])
    }

    /// After a delivery failed for good: marks the service failing, commits only what every
    /// output before the failure makes safe, leaves the group, and returns the error to throw,
    /// so the process exits non-zero and a restart reprocesses from the last commit.
    private func fail(_ reason: String) -> RuntimeFailure {
        pipeline.health.set(.failing(reason))
        pipeline.metrics.countDeliveryFailure()
        logger.error("output cannot be delivered; stopping after committing what is safe", metadata: ["reason": "\(reason)"])
        for shard in shards { shard.sink.flush(timeout: .seconds(30)) }
        commit(asynchronously: false)
        publishMetrics(pipeline.clock())
        closeConsumer()
        return RuntimeFailure(reason: reason)
    }

    private func closeConsumer() {
        do {
            try consumer.close()
        } catch {
            logger.warning("consumer close", metadata: ["error": "\(error)"])
        }
    }
}
