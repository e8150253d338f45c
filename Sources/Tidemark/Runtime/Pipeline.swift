// The consuming side of `tidemark run`: one consumer in the group, its partitions spread over
// shards by partition number. Each poll's batch is split by shard and the shards step in
// parallel (one on the polling thread, the others on worker threads), then the pipeline
// records what may be committed. Records of one partition, and so of one device, stay in order.
import Foundation
import Kafka
import Logging
import Synchronization

/// Consume, process in shards, produce, commit: the loop behind `tidemark run`.
final class Pipeline: Sendable {
    enum State: Int {
        case starting, running, stopped, failed
    }

    private let consumerConfig: KafkaConfig
    private let producerConfig: KafkaConfig
    private let shardCount: Int
    private let clock: @Sendable () -> Int64
    private let metrics: MetricsRegistry
    private let logger: Logger
    /// The app set to switch to at the next loop turn.
    private let pendingApps: Mutex<[AppDefinition]?>
    private let stopRequested = Atomic<Bool>(false)
    private let stateValue = Atomic<Int>(State.starting.rawValue)
    /// Messages consumed and processed so far (for benchmarks and tests).
    let consumed = Atomic<Int>(0)

    /// How often idle flushes, `every` periods, commits and metrics are taken care of.
    static let tickMillis: Int64 = 100

    init(
        consumerConfig: KafkaConfig, producerConfig: KafkaConfig, shards: Int, apps: [AppDefinition],
        metrics: MetricsRegistry, clock: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.consumerConfig = consumerConfig
        self.producerConfig = producerConfig
        self.shardCount = max(1, shards)
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
        self.pendingApps = Mutex(apps)
    }

    var state: State { State(rawValue: stateValue.load(ordering: .acquiring))! }

    /// Starts the polling thread.
    func start() {
        let thread = Thread { [self] in
            do {
                try Loop(pipeline: self).run()
                stateValue.store(State.stopped.rawValue, ordering: .releasing)
            } catch {
                logger.critical("pipeline stopped", metadata: ["error": "\(error)"])
                stateValue.store(State.failed.rawValue, ordering: .releasing)
            }
        }
        thread.name = "tidemark-poll"
        thread.start()
    }

    /// Replaces the app set; apps whose definition did not change keep their state.
    func update(apps: [AppDefinition]) {
        pendingApps.withLock { $0 = apps }
    }

    /// Asks the pipeline to drain, commit and leave the group.
    func stop() { stopRequested.store(true, ordering: .releasing) }

    func waitUntilStopped() {
        while state == .starting || state == .running { usleep(20_000) }
    }

    /// The polling thread's state: nothing here is shared outside a step's barrier.
    private final class Loop {
        unowned let pipeline: Pipeline
        let consumer: KafkaConsumer
        let shards: [Shard]
        let workers: [ShardWorker]
        /// Per shard, the positions of this batch's messages that belong to it.
        var positions: [[Int]]
        var checkpoints = OffsetCheckpoints()
        /// Where this process stopped in partitions it no longer holds: its window state
        /// covers every record before, so if a partition comes back, reading resumes there
        /// rather than at a commit that may have failed (no record is applied twice).
        var resumePositions: [String: [Int32: Int64]] = [:]
        var subscribedTopics: [String] = []
        /// Counts already added to the shared metrics, per app.
        var published: [String: AppCounts] = [:]
        var lastTick: Int64 = 0
        var lastMetrics: Int64 = 0
        var logger: Logger { pipeline.logger }

        init(pipeline: Pipeline) throws {
            self.pipeline = pipeline
            shards = try (0..<pipeline.shardCount).map { (index) throws(KafkaError) in
                try Shard(index: index, producerConfig: pipeline.producerConfig, logger: pipeline.logger)
            }
            workers = shards.dropFirst().map { ShardWorker(shard: $0) }
            positions = Array(repeating: [], count: shards.count)
            // The handler runs inside `poll`/`close` on this thread, while no step is running.
            weak var target: Loop?
            // Fair partitions: a quiet app's record is not queued behind a hot topic's backlog.
            consumer = try KafkaConsumer(config: pipeline.consumerConfig, fairPartitions: true) { _, event in
                target?.rebalanced(event)
            }
            target = self
            consumer.startOffset = { topic, partition in target?.resumePositions[topic]?.removeValue(forKey: partition) }
        }

        func run() throws {
            pipeline.stateValue.store(State.running.rawValue, ordering: .releasing)
            var loggedErrors = 0
            while !pipeline.stopRequested.load(ordering: .acquiring) {
                if let apps = pipeline.pendingApps.withLock({ pending in defer { pending = nil }; return pending }) {
                    try install(apps)
                }
                let poll = try consumer.poll(timeout: .milliseconds(Pipeline.tickMillis), maxMessages: 4096)
                for case .error(let error) in poll.events {
                    // An outage repeats the same error many times a second; librdkafka retries
                    // by itself, so a few lines say enough.
                    loggedErrors += 1
                    if loggedErrors <= 10 || loggedErrors % 1000 == 0 {
                        logger.warning("kafka", metadata: ["error": "\(error)", "count": "\(loggedErrors)"])
                    }
                }
                let now = pipeline.clock()
                let tick = now - lastTick >= Pipeline.tickMillis
                if tick { lastTick = now }
                step(poll.messages, now: now, tick: tick)
                if tick {
                    commit(asynchronously: true)
                    if now - lastMetrics >= 1000 {
                        lastMetrics = now
                        publishMetrics(now)
                    }
                }
            }
            drain()
        }

        /// Splits the batch by shard, steps every shard (in parallel), then records the
        /// offsets processed with the output token each partition now waits for.
        private func step(_ messages: KafkaMessageBatch, now: Int64, tick: Bool) {
            guard !messages.isEmpty || tick else { return }
            if workers.isEmpty {
                shards[0].step(messages, positions: messages.indices, now: now, tick: tick)
            } else {
                for index in positions.indices { positions[index].removeAll(keepingCapacity: true) }
                for (position, message) in messages.enumerated() {
                    positions[Int(message.partition) % shards.count].append(position)
                }
                let batch = UnsafeBatch(messages: messages)
                for (offset, worker) in workers.enumerated() {
                    worker.begin(batch, positions: positions[offset + 1], now: now, tick: tick)
                }
                shards[0].step(messages, positions: positions[0], now: now, tick: tick)
                for worker in workers { worker.waitUntilDone() }
            }
            checkpointLast(of: messages)
            pipeline.consumed.add(messages.count, ordering: .relaxed)
        }

        /// For each partition in the batch, the offset after its last message, waiting for
        /// the last token its shard has issued.
        private func checkpointLast(of messages: KafkaMessageBatch) {
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
                let shard = shards[Int(partition) % shards.count]
                checkpoints.processed(
                    topic: topic, partition: partition, nextOffset: message.offset + 1,
                    token: Token(shard: shard.index, sequence: shard.sink.lastIssuedToken))
            }
        }

        private func commit(asynchronously: Bool) {
            let acknowledged = shards.map { $0.sink.ledger.acknowledgedThrough }
            let offsets = checkpoints.committable { $0.sequence <= acknowledged[$0.shard] }
            guard !offsets.isEmpty else { return }
            do {
                try consumer.commit(
                    offsets.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition, offset: $0.offset) },
                    asynchronously: asynchronously)
            } catch {
                logger.warning("commit failed; the next one includes it", metadata: ["error": "\(error)"])
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
                let before = published[name] ?? AppCounts()
                let app = pipeline.metrics.app(name)
                app.recordsIn.add(total.counts.recordsIn - before.recordsIn, ordering: .relaxed)
                app.resultsOut.add(total.counts.resultsOut - before.resultsOut, ordering: .relaxed)
                app.triggersOut.add(total.counts.triggersOut - before.triggersOut, ordering: .relaxed)
                app.late.add(total.counts.late - before.late, ordering: .relaxed)
                app.malformed.add(total.counts.malformed - before.malformed, ordering: .relaxed)
                if let watermark = total.watermark { app.watermarkLagMillis.store(Int(now - watermark), ordering: .relaxed) }
                published[name] = total.counts
            }
            for (topic, partition, position) in checkpoints.positions {
                if let high = consumer.cachedHighWatermark(topic: topic, partition: partition) {
                    pipeline.metrics.setConsumerLag(topic: topic, partition: partition, lag: Int(max(0, high - position)))
                }
            }
            for shard in shards { pipeline.metrics.observeEmitLatency(shard.sink.takeLatencies()) }
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
            logger.info("subscribed", metadata: ["topics": "\(topics.joined(separator: ","))"])
        }

        /// Before partitions go, every output derived from them is flushed and their offsets
        /// committed, so the next owner starts exactly where this one stopped.
        fileprivate func rebalanced(_ event: KafkaRebalanceEvent) {
            switch event {
            case .assigned(let partitions):
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
        }

        private func release(_ partitions: [KafkaTopicPartition]) {
            for p in partitions {
                if let position = checkpoints.forget(topic: p.topic, partition: p.partition) {
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
            for worker in workers { worker.finish() }
            do {
                try consumer.close()
            } catch {
                logger.warning("consumer close", metadata: ["error": "\(error)"])
            }
            logger.info("drained", metadata: ["in-flight": "\(shards.map(\.sink.ledger.inFlight).reduce(0, +))"])
        }
    }
}

/// A shard's position in the output order: its producer's token sequence.
struct Token: Equatable {
    var shard: Int
    var sequence: UInt64
}

extension AppCounts {
    mutating func add(_ other: AppCounts) {
        recordsIn += other.recordsIn
        resultsOut += other.resultsOut
        triggersOut += other.triggersOut
        late += other.late
        malformed += other.malformed
    }
}

/// A poll's batch lent to worker threads for one step.
// @unchecked Sendable: the polling thread does not poll again (which would release the
// messages) until every worker has signalled that its step is done.
private struct UnsafeBatch: @unchecked Sendable {
    let messages: KafkaMessageBatch
}

/// A thread that steps one shard when told to, and says when it is done.
private final class ShardWorker: @unchecked Sendable {
    // @unchecked Sendable: `shard` and the step inputs are only touched by the worker
    // between `begin` and the `done` signal, and by the polling thread outside that span;
    // the semaphores order the two.
    private let shard: Shard
    private let start = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var batch: UnsafeBatch?
    private var positions: [Int] = []
    private var now: Int64 = 0
    private var tick = false
    private var finished = false

    init(shard: Shard) {
        self.shard = shard
        let thread = Thread { [self] in
            while true {
                start.wait()
                if finished { return }
                self.shard.step(batch!.messages, positions: positions[...], now: now, tick: tick)
                batch = nil
                done.signal()
            }
        }
        thread.name = "tidemark-shard-\(shard.index)"
        thread.start()
    }

    func begin(_ batch: UnsafeBatch, positions: [Int], now: Int64, tick: Bool) {
        self.batch = batch
        self.positions = positions
        self.now = now
        self.tick = tick
        start.signal()
    }

    func waitUntilDone() { done.wait() }

    func finish() {
        finished = true
        start.signal()
    }
}
