// One lane of `tidemark run`: a consumer in the group, a producer, and every app's processor
// for the partitions this lane owns, on one thread. Lanes split partitions through the
// consumer group, so records of one partition (and so of one device) stay in order while
// partitions run in parallel, in one process or across many.
import Foundation
import Kafka
import Logging
import Synchronization

/// A lane: consume, process every app reading the topic, produce, commit.
final class PipelineLane: Sendable {
    enum State: Int {
        case starting, running, stopped, failed
    }

    let index: Int
    private let consumerConfig: KafkaConfig
    private let producerConfig: KafkaConfig
    private let clock: @Sendable () -> Int64
    private let metrics: MetricsRegistry
    private let logger: Logger
    /// The app set to switch to at the next loop turn.
    private let pendingApps: Mutex<[AppDefinition]?>
    private let stopRequested = Atomic<Bool>(false)
    private let stateValue = Atomic<Int>(State.starting.rawValue)

    /// How often idle flushes, `every` periods, commits and metrics are taken care of.
    static let tickMillis: Int64 = 100

    init(
        index: Int, consumerConfig: KafkaConfig, producerConfig: KafkaConfig, apps: [AppDefinition],
        metrics: MetricsRegistry, clock: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.index = index
        self.consumerConfig = consumerConfig
        self.producerConfig = producerConfig
        self.metrics = metrics
        self.clock = clock
        var logger = logger
        logger[metadataKey: "lane"] = "\(index)"
        self.logger = logger
        self.pendingApps = Mutex(apps)
    }

    var state: State { State(rawValue: stateValue.load(ordering: .acquiring))! }

    /// Starts the lane's thread.
    func start() {
        let thread = Thread { [self] in
            do {
                try Worker(lane: self).run()
                stateValue.store(State.stopped.rawValue, ordering: .releasing)
            } catch {
                logger.critical("lane stopped", metadata: ["error": "\(error)"])
                stateValue.store(State.failed.rawValue, ordering: .releasing)
            }
        }
        thread.name = "tidemark-lane-\(index)"
        thread.start()
    }

    /// Replaces the app set; apps whose definition did not change keep their state.
    func update(apps: [AppDefinition]) {
        pendingApps.withLock { $0 = apps }
    }

    /// Asks the lane to drain, commit and leave the group; `waitUntilStopped` waits for it.
    func stop() { stopRequested.store(true, ordering: .releasing) }

    func waitUntilStopped() {
        while state == .starting || state == .running { usleep(20_000) }
    }

    /// The thread-confined part of a lane: everything that is not Sendable lives here.
    private final class Worker {
        unowned let lane: PipelineLane
        let consumer: KafkaConsumer
        let sink: KafkaOutputSink
        var processors: [String: AppProcessor] = [:]
        var processorsByTopic: [String: [AppProcessor]] = [:]
        var subscribedTopics: [String] = []
        var checkpoints = OffsetCheckpoints()
        /// Counts already added to the shared metrics, per app.
        var published: [String: AppCounts] = [:]
        var lastTick: Int64 = 0
        var lastMetrics: Int64 = 0
        var logger: Logger { lane.logger }

        init(lane: PipelineLane) throws {
            self.lane = lane
            let producer = try KafkaProducer(config: lane.producerConfig)
            sink = KafkaOutputSink(producer: producer, logger: lane.logger)
            // The handler runs inside `poll`/`close` on this thread; the worker outlives both.
            weak var handlerTarget: Worker?
            consumer = try KafkaConsumer(config: lane.consumerConfig) { _, event in
                handlerTarget?.rebalanced(event)
            }
            handlerTarget = self
            _ = handlerTarget
        }

        func run() throws {
            lane.stateValue.store(State.running.rawValue, ordering: .releasing)
            var loggedErrors = 0
            while !lane.stopRequested.load(ordering: .acquiring) {
                if let apps = lane.pendingApps.withLock({ pending in defer { pending = nil }; return pending }) {
                    try install(apps)
                }
                let poll = try consumer.poll(timeout: .milliseconds(Int64(PipelineLane.tickMillis)), maxMessages: 2048)
                for case .error(let error) in poll.events {
                    // A broker outage repeats the same error many times a second; librdkafka
                    // retries by itself, so a few lines say enough.
                    loggedErrors += 1
                    if loggedErrors <= 10 || loggedErrors % 1000 == 0 {
                        logger.warning("kafka", metadata: ["error": "\(error)", "count": "\(loggedErrors)"])
                    }
                }
                let now = lane.clock()
                sink.now = now
                process(poll.messages, now: now)
                sink.serveDeliveries()
                if now - lastTick >= PipelineLane.tickMillis { tick(now) }
            }
            drain()
        }

        private func process(_ messages: KafkaMessageBatch, now: Int64) {
            guard !messages.isEmpty else { return }
            var topic = ""
            var targets: [AppProcessor] = []
            var partition: Int32 = -1
            var nextOffset: Int64 = -1
            for message in messages {
                let messageTopic = message.topic
                if messageTopic != topic || message.partition != partition {
                    if partition >= 0 { checkpoint(topic, partition, nextOffset) }
                    if messageTopic != topic { targets = processorsByTopic[messageTopic] ?? [] }
                    topic = messageTopic
                    partition = message.partition
                }
                nextOffset = message.offset + 1
                guard !targets.isEmpty else { continue }
                let timestamp = message.timestamp
                withBytes(message.key) { key in
                    withBytes(message.value) { value in
                        for processor in targets {
                            processor.process(
                                value: value, key: key, timestamp: timestamp, partition: partition, now: now, into: sink)
                        }
                    }
                }
            }
            checkpoint(topic, partition, nextOffset)
        }

        private func checkpoint(_ topic: String, _ partition: Int32, _ nextOffset: Int64) {
            checkpoints.processed(topic: topic, partition: partition, nextOffset: nextOffset, token: sink.lastIssuedToken)
        }

        /// Idle flushes and `every` periods, then commits, then (each second) metrics.
        private func tick(_ now: Int64) {
            lastTick = now
            for processor in processors.values { processor.advance(now: now, into: sink) }
            sink.serveDeliveries()
            commit(asynchronously: true)
            if now - lastMetrics >= 1000 {
                lastMetrics = now
                publishMetrics(now)
            }
        }

        private func commit(asynchronously: Bool) {
            let offsets = checkpoints.committable(acknowledgedThrough: sink.ledger.acknowledgedThrough)
            guard !offsets.isEmpty else { return }
            do {
                try consumer.commit(
                    offsets.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition, offset: $0.offset) },
                    asynchronously: asynchronously)
            } catch {
                logger.warning("commit failed; it is retried with the next one", metadata: ["error": "\(error)"])
            }
        }

        private func publishMetrics(_ now: Int64) {
            for (name, processor) in processors {
                let counts = processor.counts
                let before = published[name] ?? AppCounts()
                let app = lane.metrics.app(name)
                app.recordsIn.add(counts.recordsIn - before.recordsIn, ordering: .relaxed)
                app.resultsOut.add(counts.resultsOut - before.resultsOut, ordering: .relaxed)
                app.triggersOut.add(counts.triggersOut - before.triggersOut, ordering: .relaxed)
                app.late.add(counts.late - before.late, ordering: .relaxed)
                app.malformed.add(counts.malformed - before.malformed, ordering: .relaxed)
                if let watermark = processor.maxWatermark {
                    app.watermarkLagMillis.store(Int(now - watermark), ordering: .relaxed)
                }
                published[name] = counts
            }
            for (topic, partition, position) in checkpoints.partitions {
                if let high = consumer.cachedHighWatermark(topic: topic, partition: partition) {
                    lane.metrics.setConsumerLag(topic: topic, partition: partition, lag: Int(max(0, high - position)))
                }
            }
            lane.metrics.observeEmitLatency(sink.takeLatencies())
        }

        /// Switches to a new app set: unchanged apps keep their processor and state.
        private func install(_ apps: [AppDefinition]) throws {
            var next: [String: AppProcessor] = [:]
            for app in apps {
                if let existing = processors[app.name], existing.app == app {
                    next[app.name] = existing
                    continue
                }
                do {
                    next[app.name] = try AppProcessor(app: app)
                    logger.info(processors[app.name] == nil ? "app started" : "app restarted with its new definition", metadata: ["app": "\(app.name)"])
                } catch {
                    logger.error("app not started", metadata: ["app": "\(app.name)", "error": "\(error)"])
                }
            }
            for name in processors.keys where next[name] == nil {
                logger.info("app stopped", metadata: ["app": "\(name)"])
                published[name] = nil
            }
            processors = next
            processorsByTopic = Dictionary(grouping: processors.values.sorted { $0.app.name < $1.app.name }, by: \.app.input.topic)
            let topics = processorsByTopic.keys.sorted()
            if topics != subscribedTopics {
                subscribedTopics = topics
                if topics.isEmpty {
                    try consumer.subscribe(topics: [])
                } else {
                    try consumer.subscribe(topics: topics)
                }
                logger.info("subscribed", metadata: ["topics": "\(topics.joined(separator: ","))"])
            }
        }

        /// Before partitions go, every output derived from them is flushed and their offsets
        /// committed, so the next owner starts exactly where this lane stopped.
        fileprivate func rebalanced(_ event: KafkaRebalanceEvent) {
            switch event {
            case .assigned(let partitions):
                logger.info("partitions assigned", metadata: ["partitions": "\(describe(partitions))"])
            case .revoked(let partitions):
                sink.flush(timeout: .seconds(30))
                commit(asynchronously: false)
                for p in partitions { checkpoints.forget(topic: p.topic, partition: p.partition) }
                logger.info("partitions revoked", metadata: ["partitions": "\(describe(partitions))"])
            case .lost(let partitions):
                for p in partitions { checkpoints.forget(topic: p.topic, partition: p.partition) }
                logger.warning("partitions lost", metadata: ["partitions": "\(describe(partitions))"])
            }
        }

        private func describe(_ partitions: [KafkaTopicPartition]) -> String {
            partitions.map { "\($0.topic)/\($0.partition)" }.joined(separator: ",")
        }

        /// Stops reading, delivers everything in flight, commits, and leaves the group.
        private func drain() {
            sink.flush(timeout: .seconds(30))
            commit(asynchronously: false)
            publishMetrics(lane.clock())
            do {
                try consumer.close()
            } catch {
                logger.warning("consumer close", metadata: ["error": "\(error)"])
            }
            logger.info("lane drained", metadata: ["in-flight": "\(sink.ledger.inFlight)"])
        }
    }
}

/// Calls `body` with the bytes of a message part, or nil when it is absent.
@inline(__always)
private func withBytes<R>(_ bytes: KafkaBytes?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
