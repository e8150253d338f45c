// The consumer loop of `tidemark run`: one consumer in the group, its partitions spread over
// shards by partition number. Each poll's batch is split by shard and the shards step in
// parallel (one on this thread, the others on their own threads). A partition assigned to
// this process is paused until its apps' states are restored from their changelogs, then read
// from where those states stand; every checkpoint interval the changed states go to the
// changelogs, and an input offset is committed once its outputs and its states are written.
// Records of one partition, and so of one device, stay in order.
import Foundation
import Kafka
import Logging
import Synchronization

/// The state of the polling thread: nothing here is shared outside a step's barrier.
package final class ConsumerLoop {
    private unowned let service: ConsumerService
    private let consumer: any KafkaConsumerClient
    private let shards: [Shard]
    private let threads: [ShardThread]
    private let restorer: Restorer
    private let catchUp: CatchUpReader
    /// Per shard, the positions of this batch's messages that belong to it.
    private var positions: [[Int]]
    private var subscribedTopics: [String] = []
    /// Counts already added to the metrics, per app.
    private var published: [String: AppCounts] = [:]
    private var lastTick: Int64 = 0
    private var lastMetrics: Int64 = 0
    private var loggedErrors = 0
    /// Where each partition this consumer holds (or parks, with its states per app) stands.
    private var partitions = PartitionLifecycle<[String: PartitionState]>()
    private var connection: ConnectionWatch
    /// Decides what is checkpointed and committed when.
    private var committer: Committer!
    /// A failure met inside the rebalance handler (which cannot throw), thrown after the poll.
    private var failedInRebalance: RuntimeFailure?
    /// Set once the loop fails: partitions revoked while closing get no last checkpoint.
    private var failing = false
    /// When the drain (or the wind-down after a failure) must be over; nil while running.
    /// Every wait for the broker from then on, the rebalance handler's included, ends by it.
    private var drainDeadline: ContinuousClock.Instant?
    /// Per partition, the offset its last reset was from.
    private var lastResets: [TopicPartition: Int64] = [:]
    /// The cluster the partitions' offsets belong to, as first seen.
    private var cluster: String?
    /// Apps warned about records not keyed by their device.
    private var warnedKeys = Set<String>()
    private var logger: Logger { service.logger }

    /// How often idle flushes, `every` periods, commits and metrics are taken care of.
    static let tickMillis: Int64 = 100

    package init(service: ConsumerService) throws {
        self.service = service
        let clients = service.clients
        shards = try (0..<service.shardCount).map { (index) throws(KafkaError) in
            try Shard(
                index: index, group: service.group, producer: clients.producer(config: service.producerConfig(shard: index)),
                clients: clients, logger: service.logger)
        }
        threads = shards.dropFirst().map { ShardThread(shard: $0) }
        positions = Array(repeating: [], count: shards.count)
        let config = service.consumerConfig
        connection = ConnectionWatch(
            patience: config["session.timeout.ms"].flatMap { Int64($0) } ?? 45_000,
            reconnectBackoff: config["reconnect.backoff.max.ms"].flatMap { Int64($0) } ?? 10_000)
        // No app runs without its changelog: missing ones are created where the cluster allows.
        let apps = service.pendingApps.withLock { $0 } ?? []
        let problems = clients.ensure(
            ChangelogTopic.needed(by: apps, group: service.group), config: service.producerConfig, timeout: .seconds(10))
        guard problems.isEmpty else { throw RuntimeFailure.changelogs(problems.map(\.description)) }
        restorer = Restorer(config: service.restoreConfig, clients: clients, clock: service.clock, logger: service.logger) {}
        catchUp = CatchUpReader(config: service.consumerConfig, clients: clients)
        // Before any restore: registering the transactional ids aborts what an earlier
        // instance left open, so the changelogs read to their end hold committed state only.
        if service.exactlyOnce {
            for shard in shards { try shard.startTransactions() }
        }
        // The handler runs inside `poll`/`close` on this thread, while no step is running.
        weak var target: ConsumerLoop?
        // Fair partitions: a quiet app's record is not queued behind a hot topic's backlog.
        consumer = try clients.consumer(config: service.consumerConfig, fairPartitions: true) { event in
            target?.rebalanced(event)
        }
        target = self
        committer = Committer(
            shards: shards, consumer: consumer, exactlyOnce: service.exactlyOnce, intervalMillis: service.checkpointMillis,
            clients: clients, logger: service.logger)
        service.health.set(.ok)
    }

    private var clients: any KafkaClientFactory { service.clients }

    /// Polls and processes until `stop` is requested, then drains: delivers what is in
    /// flight, writes the states' last checkpoint, commits and leaves the group. A delivery
    /// or a restore that fails for good ends the loop the same way, committing only what
    /// precedes it, and throws.
    func run(until stop: StopRequest) throws {
        defer { finish() }
        while !stop.isRequested { try turn() }
        try drain()
    }

    /// Stops the shard threads, the restorer and the catch-up reader: after the drain, or
    /// after a failure.
    package func finish() {
        for thread in threads { thread.finish() }
        // Within what is left of the drain, and never without a bound.
        let deadline = max(drainDeadline ?? clients.now(), clients.now() + .seconds(1))
        restorer.stop(waitingUntil: deadline)
        catchUp.close(until: deadline)
    }

    /// One turn of the loop: a poll, its records processed, and whatever falls due (idle
    /// flushes, checkpoints, commits, metrics and health). Throws the failure that ends the
    /// loop, once it has committed what is safe and left the group.
    package func turn() throws {
        if let apps = service.pendingApps.withLock({ pending in defer { pending = nil }; return pending }) {
            try install(apps)
        }
        // While states catch up, the wait is for whichever consumer has records first.
        let poll = try consumer.poll(timeout: catchUp.isEmpty ? .milliseconds(Self.tickMillis) : .zero, maxMessages: 4096)
        if let failure = failedInRebalance { throw fail(failure) }
        // Before anything of this poll is processed or committed (a few instructions and a
        // lock a batch): records of another cluster must not reach the states.
        try checkCluster()
        for reset in consumer.takeOffsetResets() { try offsetWasReset(reset) }
        let now = service.clock()
        observe(poll, at: now)
        try installRestored()
        let tick = now - lastTick >= Self.tickMillis
        if tick { lastTick = now }
        step(poll.messages, now: now, tick: tick)
        if !catchUp.isEmpty { try stepCatchingUp(now: now, wait: poll.messages.isEmpty) }
        if let fatal = shards.lazy.compactMap(\.fatalError).first { throw fail(.delivery(fatal)) }
        for shard in shards {
            guard let failure = shard.deliveryFailure else { continue }
            // Exactly once, a delivery that fails dooms its transaction, not the process.
            guard service.exactlyOnce else { throw fail(.delivery(failure)) }
            try rewind(committing { () throws(RuntimeFailure) in try committer.abort(shard, because: failure) })
        }
        for abort in try committing({ () throws(RuntimeFailure) in try committer.checkpoint(now: now, restoring: partitions.restoring) }) {
            try rewind(abort)
        }
        for shard in shards {
            if let duration = shard.takeCheckpointDuration() { service.metrics.observeCheckpoint(milliseconds: duration) }
        }
        if tick {
            committer.commit(waitingUntil: nil)
            if now - lastMetrics >= 1000 {
                lastMetrics = now
                publishMetrics(now)
                if !subscribedTopics.isEmpty { try reportHealth(at: now) }
            }
        }
    }

    /// Splits the batch by shard and steps every shard (in parallel).
    ///
    /// - Parameter catchingUp: the batch was read by the catch-up reader.
    private func step(_ messages: KafkaMessageBatch, now: Int64, tick: Bool, catchingUp: Bool = false) {
        guard !messages.isEmpty || tick else { return }
        if threads.isEmpty {
            if catchingUp {
                shards[0].catchUpStep(messages, positions: messages.indices, now: now)
            } else {
                shards[0].step(messages, positions: messages.indices, now: now, tick: tick)
            }
        } else {
            for index in positions.indices { positions[index].removeAll(keepingCapacity: true) }
            for (position, message) in messages.enumerated() {
                positions[shardIndex(of: message.partition)].append(position)
            }
            // Shards look up topic names from their threads: every name must be known first.
            messages.nameTopics()
            let batch = UnsafeBatch(messages: messages)
            for (offset, thread) in threads.enumerated() {
                thread.begin(batch, positions: positions[offset + 1], now: now, tick: tick, catchingUp: catchingUp)
            }
            if catchingUp {
                shards[0].catchUpStep(messages, positions: positions[0], now: now)
            } else {
                shards[0].step(messages, positions: positions[0], now: now, tick: tick)
            }
            for thread in threads { thread.waitUntilDone() }
        }
        service.consumed.add(messages.count, ordering: .relaxed)
    }

    // MARK: Catching up

    /// Processes what the catch-up reader has for the states catching up, and hands each
    /// over to the shared stream once it reaches it.
    private func stepCatchingUp(now: Int64, wait: Bool) throws {
        guard let poll = try catchUp.poll(timeout: wait ? .milliseconds(Self.tickMillis) : .zero) else { return }
        step(poll.messages, now: now, tick: false, catchingUp: true)
        for event in poll.events {
            switch event {
            case .partitionEOF(let end):
                shard(of: end.partition).caughtUp(topic: end.topic, partition: end.partition, at: end.offset)
            case .error(let error):
                clientError(error)
            case .rebalance, .committed:
                break
            }
        }
        try arrangeCatchUp()
    }

    /// Reads each partition with a state catching up (those read already, and `added`) from
    /// where the furthest-back one stands, and no other. A partition whose states all catch up
    /// (the apps that read it for the others are gone) is read by the shared stream again,
    /// from there.
    private func arrangeCatchUp(adding added: TopicPartition? = nil) throws {
        var reads: [TopicPartition: Int64] = [:]
        for partition in Set(catchUp.partitions.keys).union(added.map { [$0] } ?? []) where partitions.holds(partition) {
            let states = shard(of: partition.partition).states(of: partition.topic, partition: partition.partition)
            let catching = states.filter(\.catchingUp)
            guard let from = catching.map(\.position).min() else { continue }
            // Read again from `from`, a state further on skips what it has taken.
            for state in catching { state.skip(until: state.position) }
            if catching.count == states.count {
                for state in catching { state.catchingUp = false }
                try consumer.seek([KafkaTopicPartition(partition, offset: from)], timeout: .seconds(30))
                continue
            }
            reads[partition] = from
        }
        for partition in reads.keys where catchUp.partitions[partition] == nil {
            logger.info("catching up", metadata: ["partition": "\(partition)", "from": "\(reads[partition]!)"])
        }
        for partition in catchUp.partitions.keys where reads[partition] == nil {
            logger.info("caught up", metadata: ["partition": "\(partition)"])
        }
        // Reassigning drops what was fetched ahead: only when the set of partitions changes,
        // or a state joins one further back than where it is read.
        let joined = added.map { catchUp.partitions[$0] != nil } ?? false
        if joined || Set(reads.keys) != Set(catchUp.partitions.keys) { try catchUp.read(reads) }
    }

    /// The shard a partition's records go to: all of one partition, and so of one device, in one.
    private func shard(of partition: Int32) -> Shard { shards[shardIndex(of: partition)] }

    private func shardIndex(of partition: Int32) -> Int { Int(partition) % shards.count }

    // MARK: Checkpoints and commits

    /// Runs a step of the committer, its failure ending the loop.
    private func committing<Result>(_ body: () throws(RuntimeFailure) -> Result) throws -> Result {
        do {
            return try body()
        } catch {
            throw fail(error)
        }
    }

    /// Delivers everything, writes every state's last checkpoint and waits for it (exactly
    /// once, commits the last transactions), by `deadline`. A shard whose last transaction
    /// was aborted is rewound at once: its states hold what the transaction voided, and the
    /// next transaction (in the revocation a close brings) must not commit offsets past it.
    private func checkpointEverything(until deadline: ContinuousClock.Instant) -> Committer.LastCheckpoint {
        var last = committer.checkpointEverything(restoring: partitions.restoring, until: deadline)
        do {
            for abort in last.aborts { try rewind(abort) }
        } catch {
            logger.error("cannot start aborted partitions again", metadata: ["error": "\(error)"])
            last.failure = last.failure ?? .transactionsAborting("partitions of an aborted transaction cannot start again: \(error)")
        }
        return last
    }

    /// Exactly once: a shard's transaction was aborted; its partitions start again from their
    /// changelogs (whose records of the aborted transaction read-committed consumers never see).
    private func rewind(_ abort: Committer.Abort) throws {
        let shard = abort.shard
        service.metrics.countAbortedTransaction()
        var rewound = partitions.held.filter { shardIndex(of: $0.partition) == shard.index }
        // A partition repartitioned (no state of its own) is read again from its committed
        // offset: what the aborted transaction wrote from it is void.
        let repartitioned = rewound.filter { shard.repartitions($0.topic) }
        rewound.removeAll { shard.repartitions($0.topic) }
        if !repartitioned.isEmpty {
            for partition in repartitioned { shard.drop(topic: partition.topic, partition: partition.partition) }
            let committed = try consumer.committed(repartitioned.map { KafkaTopicPartition($0) }, timeout: .seconds(30))
            try consumer.seek(
                committed.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition, offset: $0.offset >= 0 ? $0.offset : KafkaTopicPartition.beginningOffset) },
                timeout: .seconds(30))
        }
        for partition in rewound {
            shard.drop(topic: partition.topic, partition: partition.partition)
            partitions.rewind(partition)
        }
        try consumer.pause(rewound.map { KafkaTopicPartition($0) })
        for partition in rewound { requestRestore(partition, apps: shard.apps(reading: partition.topic).map(\.app), pausing: true) }
    }

    // MARK: Restores

    /// Asks for the states of `apps` for `partition` to be restored.
    ///
    /// - Parameters:
    ///   - freshStart: where an app with no state yet starts (see ``RestoreRequest``).
    ///   - pausing: the partition is (or was just) paused: it is read once they are restored.
    private func requestRestore(_ partition: TopicPartition, apps: [AppDefinition], pausing: Bool, freshStart: Int64? = nil) {
        guard !apps.isEmpty else { return }
        let generation = partitions.requestRestore(partition, apps: apps.map(\.name), pausing: pausing)
        restorer.request(
            RestoreRequest(
                generation: generation, topic: partition.topic, partition: partition.partition,
                apps: apps.map { .init(definition: $0, changelog: ChangelogTopic.name(group: service.group, app: $0.name)) },
                freshStart: freshStart))
    }

    /// Installs the states restored since the last look, and reads each partition whose
    /// apps all have their state from where the furthest-back one stands.
    private func installRestored() throws {
        for restored in restorer.takeResults() {
            let partition = TopicPartition(topic: restored.topic, partition: restored.partition)
            guard partitions.isRestoring(partition) else { continue }
            if let error = restored.error {
                throw fail(.restore(partition: "\(partition)", "\(error)"))
            }
            let shard = shard(of: partition.partition)
            var installed: [PartitionState] = []
            var taken = false
            var resumeFromStates: Bool?
            for (app, state) in restored.states {
                switch partitions.restored(partition, app: app, generation: restored.generation) {
                case .stale: continue
                case .waiting: break
                case .complete(let wasPaused): resumeFromStates = wasPaused
                }
                taken = true
                guard let processor = shard.processors[app] else { continue }
                processor.install(state, partition: partition.partition)
                installed.append(state)
            }
            guard taken else { continue }
            service.metrics.countRestored(records: restored.records, bytes: restored.bytes, devices: restored.devices)
            if let resumeFromStates { try resume(partition, after: installed, fromStates: resumeFromStates) }
        }
    }

    /// Reads a partition whose states are all installed: from where the furthest-ahead state
    /// stands when the partition was paused for them (`fromStates`), on where it is read
    /// already otherwise. States behind that catch up through the catch-up reader; states
    /// ahead skip what they have seen.
    private func resume(_ partition: TopicPartition, after installed: [PartitionState], fromStates: Bool) throws {
        let states = shard(of: partition.partition).states(of: partition.topic, partition: partition.partition)
        let reading = states.filter { state in !state.catchingUp && !installed.contains { $0 === state } }
        let tp = KafkaTopicPartition(partition)
        let lead: Int64
        let behind: [PartitionState]
        if let shared = reading.map(\.position).max(), !fromStates {
            lead = shared
            behind = installed.filter { $0.start < shared }
        } else {
            for state in reading { state.skip(until: state.position) }
            lead = states.map(\.start).max() ?? 0
            try consumer.seek([KafkaTopicPartition(partition, offset: lead)], timeout: .seconds(30))
            behind = states.filter { $0.start < lead }
        }
        for state in behind { state.catchingUp = true }
        if fromStates { try consumer.resume([tp]) }
        logger.info("partition resumed", metadata: ["partition": "\(partition)", "from": "\(lead)"])
        try arrangeCatchUp(adding: behind.isEmpty ? nil : partition)
    }

    // MARK: Apps

    /// Switches every shard to a new app set and follows its topics; apps that start with no
    /// state have it restored for the partitions already held.
    private func install(_ apps: [AppDefinition]) throws {
        let now = service.clock()
        var stateless: [String: AppDefinition] = [:]
        for shard in shards {
            for app in shard.install(apps, now: now) { stateless[app.name] = app }
        }
        let names = Set(apps.map(\.name))
        for name in published.keys where !names.contains(name) {
            published[name] = nil
            service.metrics.remove(app: name)
        }
        for partition in partitions.held {
            let apps = stateless.values.filter { $0.input.topic == partition.topic }.sorted { $0.name < $1.name }
            // An app added while its topic is read starts where the other apps stand: on new records.
            let reading = shard(of: partition.partition).apps(reading: partition.topic)
                .compactMap { $0.state(of: partition.partition)?.position }.min()
            requestRestore(partition, apps: apps, pausing: false, freshStart: partitions.isRestoring(partition) ? nil : reading)
        }
        let topics = shards[0].topics
        guard topics != subscribedTopics else { return }
        subscribedTopics = topics
        try consumer.subscribe(topics: topics)
        connection.assignment(isEmpty: partitions.held.isEmpty, at: service.clock())
        logger.info("subscribed", metadata: ["topics": "\(topics.joined(separator: ","))"])
    }

    // MARK: Rebalances

    /// A partition assigned is paused until its states are restored. Before partitions go,
    /// every output derived from them is flushed, their states' last checkpoint written and
    /// their offsets committed, so the next owner starts exactly where this one stopped.
    private func rebalanced(_ event: KafkaRebalanceEvent) {
        let now = service.clock()
        switch event {
        case .assigned(let given):
            logger.info("partitions assigned", metadata: ["partitions": "\(describe(given))"])
            // Per partition, the apps it needs restored (after taking up parked states).
            var missing: [TopicPartition: [AppDefinition]] = [:]
            for partition in given.map(\.topicPartition) {
                let parkedStates = partitions.assign(partition) ?? [:]
                for processor in shard(of: partition.partition).apps(reading: partition.topic) {
                    if let state = parkedStates[processor.app.name] {
                        // Read again from the committed offset: what the state saw is skipped.
                        state.skip(until: state.position)
                        processor.install(state, partition: partition.partition)
                    } else {
                        missing[partition, default: []].append(processor.app)
                    }
                }
            }
            partitions.dropParked()
            do {
                try consumer.pause(missing.keys.map { KafkaTopicPartition($0) })
            } catch {
                logger.error("cannot pause partitions to restore them", metadata: ["error": "\(error)"])
            }
            for (partition, apps) in missing { requestRestore(partition, apps: apps, pausing: true) }
        case .revoked(let taken):
            if !failing {
                let deadline = drainDeadline ?? clients.now() + Self.revocationTimeout
                let last = checkpointEverything(until: deadline)
                if let failure = last.failure, failedInRebalance == nil { failedInRebalance = failure }
                committer.commit(waitingUntil: deadline)
            }
            release(taken, parking: !failing && !consumer.rebalancesIncrementally)
            logger.info("partitions revoked", metadata: ["partitions": "\(describe(taken))"])
        case .lost(let taken):
            release(taken, parking: false)
            logger.warning("partitions lost", metadata: ["partitions": "\(describe(taken))"])
        }
        connection.assignment(isEmpty: partitions.held.isEmpty, at: now)
    }

    /// Drops the states of partitions taken away, at once; `parking` (an eager rebalance,
    /// every state checkpointed) keeps them for the assignment that follows. A state catching
    /// up is restored instead, and catches up from its changelog's position.
    private func release(_ taken: [KafkaTopicPartition], parking: Bool) {
        for p in taken {
            let partition = p.topicPartition
            let shard = shard(of: p.partition)
            var kept: [String: PartitionState] = [:]
            if parking {
                for processor in shard.apps(reading: p.topic) {
                    if let state = processor.state(of: p.partition), !state.catchingUp { kept[processor.app.name] = state }
                }
            }
            partitions.revoke(partition, keeping: kept.isEmpty ? nil : kept)
            service.metrics.removeConsumerLag(topic: p.topic, partition: p.partition)
            shard.release(partition)
        }
    }

    private func describe(_ partitions: [KafkaTopicPartition]) -> String {
        partitions.map { "\($0.topic)/\($0.partition)" }.joined(separator: ",")
    }

    // MARK: Health and metrics

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
        if shards.contains(where: { $0.takeAcknowledgedAny() }) { connection.reachedBroker() }
    }

    /// Sets `/health` from what the loop sees; trouble that has lasted past the unhealthy bound
    /// fails the loop, so that the process exits and is started again.
    private func reportHealth(at now: Int64) throws {
        if let trouble = connection.persistentTrouble(at: now, bound: service.unhealthyAfterMillis) {
            throw fail(.unhealthy(seconds: service.unhealthyAfterMillis / 1000, trouble))
        }
        service.health.set(connection.status(at: now))
    }

    private func clientError(_ error: KafkaError) {
        // An outage repeats the same error many times a second; librdkafka retries by itself,
        // so a few lines say enough.
        loggedErrors += 1
        service.metrics.countClientErrors(1)
        if loggedErrors <= 10 || loggedErrors % 1000 == 0 {
            logger.warning("kafka", metadata: ["error": "\(error)", "count": "\(loggedErrors)"])
        }
    }

    private func publishMetrics(_ now: Int64) {
        var totals: [String: (counts: AppCounts, watermark: Int64?, uncheckpointed: Int64)] = [:]
        for shard in shards {
            for (name, processor) in shard.processors {
                var total = totals[name] ?? (AppCounts(), nil, 0)
                total.counts.add(processor.counts)
                if let watermark = processor.maxWatermark { total.watermark = max(total.watermark ?? watermark, watermark) }
                for partition in processor.heldPartitions {
                    let state = processor.state(of: partition)!
                    total.uncheckpointed += max(0, state.position - state.checkpointed)
                }
                totals[name] = total
            }
        }
        reportKeys(totals.mapValues(\.counts.notKeyedByDevice))
        for (name, total) in totals {
            let app = service.metrics.app(name)
            app.add(total.counts.subtracting(published[name] ?? AppCounts()))
            // A watermark ahead of the wall clock (readings dated in the future) is no lag.
            if let watermark = total.watermark { app.setWatermarkLag(milliseconds: max(0, now - watermark)) }
            app.setChangelogLag(records: total.uncheckpointed)
            published[name] = total.counts
        }
        publishConsumerLags(now)
        for shard in shards {
            for (topic, count) in shard.takeRepartitionedCounts() { service.metrics.countRepartitioned(count, topic: topic) }
            let counts = shard.takeOutputCounts()
            service.metrics.observeEmitLatency(counts.emitLatencies)
            service.metrics.countClientErrors(counts.clientErrors)
            service.metrics.countChangelogBytes(counts.changelogBytes)
        }
        service.metrics.setRestoring(partitions: partitions.restoring.count)
        service.metrics.setCatchingUp(partitions: catchUp.partitions.count)
    }

    /// Logs (once per app) and shows in `/health` the apps whose input turned out not to be
    /// keyed by device: their windows may be split over partitions without anyone noticing.
    private func reportKeys(_ notKeyed: [String: Int]) {
        let apps = notKeyed.filter { $0.value > 0 }.keys.sorted()
        for app in apps where warnedKeys.insert(app).inserted {
            logger.warning(
                "records whose message key is not their device id: a device's readings may be spread over partitions, and its windows split; set input.key: any to repartition them",
                metadata: ["app": "\(app)"])
        }
        let problem = apps.isEmpty ? nil
            : "apps \(apps.joined(separator: ", ")) read records whose key is not their device id (input.key: device): set input.key: any to repartition them"
        service.health.setCondition("keys", problem)
    }

    /// The lag of every partition held: its end minus the position its states stand at (or,
    /// while restoring, the last offset this process committed). Without a broker the cached
    /// ends are stale, and a position may not be known yet: such a lag is unknown (NaN), not 0.
    private func publishConsumerLags(_ now: Int64) {
        let disconnected = connection.isDisconnected(at: now)
        // What waits in the partitions being read (not restoring, not paused for a restore).
        var waiting: Int64? = 0
        for partition in partitions.held {
            let shard = shard(of: partition.partition)
            let states = shard.apps(reading: partition.topic).compactMap { $0.state(of: partition.partition) }
            let position = partitions.isRestoring(partition)
                ? committer.committed[partition]
                : shard.repartitionPosition(topic: partition.topic, partition: partition.partition) ?? states.map(\.position).min()
            let high = disconnected ? nil : consumer.cachedHighWatermark(topic: partition.topic, partition: partition.partition)
            var lag = Double.nan
            if let position, let high { lag = Double(max(0, high - position)) }
            service.metrics.setConsumerLag(topic: partition.topic, partition: partition.partition, lag: lag)
            // A transactional input ends with a commit marker no record stands for: a lag of
            // one is a partition read to its end.
            if !partitions.isRestoring(partition), !partitions.isPaused(partition) {
                waiting = lag.isNaN ? nil : waiting.map { $0 + max(0, Int64(lag) - 1) }
            }
        }
        connection.progress(consumed: service.consumed.load(ordering: .relaxed), lag: waiting, at: now)
    }

    // MARK: Ends

    /// Stops reading, delivers everything in flight, writes the last checkpoint, commits, and
    /// leaves the group, all within the drain timeout: each wait for the broker gets what is
    /// left of it. What is not done by then is not counted as done (input offsets stay
    /// uncommitted, so the next owner produces it again), and the loop throws naming each
    /// unfinished step, so the process exits non-zero. A last offset commit the coordinator
    /// refuses (in a rebalance, say) is no such loss: the changelogs say what the states
    /// cover, and the next owner skips what they do. One that gets no answer at all is.
    package func drain() throws {
        let timeout = service.drainTimeout
        let deadline = clients.now() + timeout
        drainDeadline = deadline
        service.health.set(.stopping("delivering outputs, writing the last checkpoint and committing (at most \(timeout))"))
        var undone: [String] = []
        let last = checkpointEverything(until: deadline)
        if let failure = last.failure { throw fail(failure) }
        if let unfinished = last.unfinished { undone.append(unfinished) }
        if let error = committer.commit(waitingUntil: deadline), error.code == KafkaError.timedOut {
            undone.append("the last offset commit got no answer")
        }
        publishMetrics(service.clock())
        if !closeConsumer(until: deadline) {
            undone.append("the consumer did not leave its group in time (its partitions wait for session.timeout.ms)")
        }
        guard undone.isEmpty else { throw RuntimeFailure.drainUnfinished(timeout: timeout, undone: undone) }
        logger.info("drained")
    }

    /// After a failure for good: marks the service failing, commits only what every output
    /// and checkpoint before the failure makes safe (where the failure allows committing at
    /// all), leaves the group, all within the drain timeout, and returns the failure to throw,
    /// so the process exits non-zero and a restart reprocesses from the last checkpoint.
    private func fail(_ failure: RuntimeFailure) -> RuntimeFailure {
        failing = true
        let deadline = drainDeadline ?? clients.now() + service.drainTimeout
        drainDeadline = deadline
        service.health.set(.failing("\(failure)"))
        if failure.isDelivery { service.metrics.countDeliveryFailure() }
        logger.error(
            failure.isDelivery ? "output cannot be delivered; stopping after committing what is safe" : "stopping after committing what is safe",
            metadata: ["reason": "\(failure)"])
        if service.exactlyOnce {
            for shard in shards where failure.abortsTransactions { shard.abandonTransaction(timeout: clients.remaining(until: deadline)) }
        } else if failure.mayCommit {
            for shard in shards { shard.flush(timeout: clients.remaining(until: deadline)) }
            committer.commit(waitingUntil: deadline)
        }
        publishMetrics(service.clock())
        closeConsumer(until: deadline)
        return failure
    }

    /// Leaves the group by `deadline`; returns whether it did.
    @discardableResult
    private func closeConsumer(until deadline: ContinuousClock.Instant) -> Bool {
        do {
            return try consumer.close(timeout: clients.remaining(until: deadline))
        } catch {
            logger.warning("consumer close", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Fails when the cluster behind the bootstrap servers is not the one this process began
    /// with (replaced by another on the same addresses): its partitions' offsets mean other
    /// records, so nothing may be read from it into the states, nor committed to it.
    /// librdkafka takes the new id from the first metadata the new cluster sends, before it
    /// can fetch from it.
    private func checkCluster() throws {
        guard let id = consumer.clusterID(timeout: .zero) else { return }
        guard let cluster else {
            cluster = id
            for shard in shards { shard.cluster = id }
            logger.info("cluster", metadata: ["id": "\(id)"])
            return
        }
        guard id != cluster else { return }
        throw fail(.clusterChanged(from: cluster, to: id))
    }

    /// librdkafka moved a partition's position that was out of range to its beginning or end.
    /// Forward, the records in between are never read: counted, logged and shown in `/health`
    /// (retention overtook this consumer). Backward, the partition holds other records than
    /// the offsets the states cover (truncated, or made anew): nothing read from it may reach
    /// them, and the loop fails.
    private func offsetWasReset(_ reset: KafkaOffsetReset) throws {
        let partition = TopicPartition(topic: reset.topic, partition: reset.partition)
        // librdkafka may log one reset more than once (as it happens, and once the offset it
        // goes to is known).
        guard lastResets[partition] != reset.from else { return }
        lastResets[partition] = reset.from
        var to = reset.to
        if to == nil, let (low, high) = try? consumer.watermarks(topic: reset.topic, partition: reset.partition, timeout: .seconds(5)) {
            to = reset.toBeginning ? low : high
        }
        guard let to else {
            logger.error("offset reset to an unknown offset", metadata: ["partition": "\(partition)", "from": "\(reset.from)", "reason": "\(reset.reason)"])
            connection.skippedRecords("\(partition) from offset \(reset.from)")
            return
        }
        if to < reset.from {
            throw fail(.partitionRewound(partition: "\(partition)", readUpTo: reset.from, endsAt: to))
        }
        let skipped = to - reset.from
        service.metrics.countSkippedRecords(skipped, reason: "offset_reset")
        connection.skippedRecords("\(partition) offsets \(reset.from)..<\(to)")
        logger.error(
            "records skipped: the partition's position was out of range and was reset",
            metadata: ["partition": "\(partition)", "from": "\(reset.from)", "to": "\(to)", "skipped": "\(skipped)", "reason": "\(reset.reason)"])
    }

    /// How long a revocation may take to deliver, checkpoint and commit while running.
    private static let revocationTimeout: Duration = .seconds(30)
}
