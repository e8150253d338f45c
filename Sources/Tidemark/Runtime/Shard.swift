// One shard of `tidemark run`: the partitions whose number maps to it, the apps' processors
// for them, a producer, and the commit bookkeeping of what that producer sent. A shard is
// stepped by one thread at a time, so nothing in it is locked.
import Foundation
import Kafka
import Logging
import Streaming

/// The processors and output of one shard of partitions.
///
/// Confinement: a shard is used by one thread at a time. The consumer loop hands it to its
/// ``ShardThread`` for a step and takes it back after the step's barrier.
final class Shard {
    let index: Int
    private let sink: KafkaOutputSink
    private(set) var processors: [String: AppProcessor] = [:]
    /// The processors by app name: what a tick emits, and a checkpoint writes, comes in the
    /// same order in every process.
    private var orderedProcessors: [AppProcessor] = []
    /// Unretained: `processors` owns them. Calls through guaranteed references spare the
    /// record path a retain and a release per app and record.
    private var processorsByTopic: [String: [Unmanaged<AppProcessor>]] = [:]
    /// Per app, its changelog topic.
    private var changelogs: [String: String] = [:]
    /// Per input topic read through its repartition topic, what writes it there.
    private var repartitioners: [String: Repartitioner] = [:]
    /// A checkpoint taken and not yet written.
    private var pending: PendingCheckpoint?
    private var changedDevices: [DeviceID] = []
    private var changedPartitions: [Int32] = []
    private let group: String
    private let logger: Logger

    /// The changelog records of a checkpoint, produced once every output sent before the
    /// checkpoint was taken is acknowledged, so that no state is written whose outputs could
    /// still be lost: first its device records, then, once every one of them is acknowledged,
    /// its partition records. A restore trusts a partition record's position for every
    /// device of its changelog partition, so none may be written while a device record of its
    /// checkpoint may be missing (an idempotent producer that fails one record may write the
    /// next: the runtime simulation found restores that skipped a device's readings so).
    private struct PendingCheckpoint {
        /// The last token issued when the checkpoint was taken; once its device records are
        /// sent, the last of theirs.
        var after: UInt64
        var records: ChangelogBatch
        /// Per input partition, the offset its states cover (every app's, so the least).
        var positions: [(partition: TopicPartition, offset: Int64)]
        var takenAt: ContinuousClock.Instant
        /// Whether its device records are sent (its partition records wait for them).
        var devicesSent = false
    }

    /// The last checkpoint written: its last record's token and when it was taken.
    private var written: (token: UInt64, takenAt: ContinuousClock.Instant)?

    private let clients: any KafkaClientFactory

    init(index: Int, group: String, producer: any KafkaProducerClient, clients: any KafkaClientFactory, logger: Logger) {
        self.index = index
        self.group = group
        self.clients = clients
        var logger = logger
        logger[metadataKey: "shard"] = "\(index)"
        self.logger = logger
        sink = KafkaOutputSink(producer: producer, logger: logger)
    }

    /// The topics some app of this shard reads, and those it repartitions for them.
    var topics: [String] { Set(processorsByTopic.keys).union(repartitioners.keys).sorted() }

    /// Whether `topic` is an input topic this shard repartitions.
    func repartitions(_ topic: String) -> Bool { repartitioners[topic] != nil }

    /// Where a partition this shard repartitions is read up to, once a record of it was.
    func repartitionPosition(topic: String, partition: Int32) -> Int64? { repartitioners[topic]?.position(of: partition) }

    /// The apps reading `topic`.
    func apps(reading topic: String) -> [AppProcessor] {
        (processorsByTopic[topic] ?? []).map { $0.takeUnretainedValue() }
    }

    /// Switches to a new app set. An unchanged app keeps its state; a changed one whose state
    /// has the same shape takes it over; returns the apps that start with no state (new, or
    /// changed in shape), which need their partitions restored.
    func install(_ apps: [AppDefinition], now: Int64) -> [AppDefinition] {
        var next: [String: AppProcessor] = [:]
        var stateless: [AppDefinition] = []
        for app in apps {
            let previous = processors[app.name]
            if let previous, previous.app == app {
                next[app.name] = previous
                continue
            }
            do {
                let processor = try AppProcessor(app: app, startsPartitions: false)
                if let previous, !carryOver(from: previous, to: processor, now: now) { stateless.append(app) }
                if previous == nil { stateless.append(app) }
                next[app.name] = processor
                if index == 0 {
                    var metadata: Logger.Metadata = ["app": "\(app.name)"]
                    if let source = app.input.repartitionedFrom { metadata["repartitioned"] = "\(source) through \(app.input.topic)" }
                    logger.info(previous == nil ? "app started" : "app restarted with its new definition", metadata: metadata)
                }
            } catch {
                logger.error("app not started", metadata: ["app": "\(app.name)", "error": "\(error)"])
            }
        }
        if index == 0 {
            for name in processors.keys where next[name] == nil { logger.info("app stopped", metadata: ["app": "\(name)"]) }
        }
        processors = next
        orderedProcessors = next.values.sorted { $0.app.name < $1.app.name }
        processorsByTopic = Dictionary(grouping: next.values.sorted { $0.app.name < $1.app.name }, by: \.app.input.topic)
            .mapValues { $0.map(Unmanaged.passUnretained) }
        changelogs = Dictionary(uniqueKeysWithValues: apps.map { ($0.name, ChangelogTopic.name(group: group, app: $0.name)) })
        var nextRepartitioners: [String: Repartitioner] = [:]
        for (source, readers) in Dictionary(grouping: apps.filter { $0.input.repartitionedFrom != nil }, by: { $0.input.repartitionedFrom! }) {
            // The apps' rules give a topic one device field.
            let repartitioner = Repartitioner(
                source: source, target: readers[0].input.topic, deviceField: readers[0].input.deviceField!,
                lateOutputs: Set(readers.map(\.lateOutput)).sorted())
            if let previous = repartitioners[source] { repartitioner.carryOn(from: previous) }
            nextRepartitioners[source] = repartitioner
        }
        repartitioners = nextRepartitioners
        return stateless
    }

    /// Moves a changed app's states to its new version when their records keep their shape.
    private func carryOver(from previous: AppProcessor, to next: AppProcessor, now: Int64) -> Bool {
        let engine = next.app.makeEngine()
        guard previous.app.makeEngine().stateSignature == engine.stateSignature else { return false }
        do {
            for partition in previous.heldPartitions {
                let state = previous.state(of: partition)!
                next.install(try state.migrated(to: next.app.makeEngine(), partition: partition, now: now), partition: partition)
            }
            return true
        } catch {
            logger.error("app state not carried over to its new definition", metadata: ["app": "\(next.app.name)", "error": "\(error)"])
            return false
        }
    }

    /// Drops every app's state of a partition taken away (and where it is repartitioned).
    func drop(topic: String, partition: Int32) {
        for app in apps(reading: topic) { app.drop(partition: partition) }
        repartitioners[topic]?.forget(partition: partition)
    }

    /// Processes the messages at `positions` of `messages` (all of this shard's partitions),
    /// then serves the producer; on a tick, also lets processing time pass.
    func step(_ messages: KafkaMessageBatch, positions: some Collection<Int>, now: Int64, tick: Bool) {
        sink.now = now
        Unmanaged.passUnretained(sink)._withUnsafeGuaranteedRef { sink in
            var topic: KafkaTopicIdentity?
            var targets: [Unmanaged<AppProcessor>] = []
            var repartitioner: Repartitioner?
            var batched: [Unmanaged<AppProcessor>] = []  // whose batch ends with this step
            for position in positions {
                let message = messages[position]
                if message.topicIdentity != topic {
                    topic = message.topicIdentity
                    targets = processorsByTopic[message.topic] ?? []
                    repartitioner = repartitioners[message.topic]
                    batched += targets
                }
                let timestamp = message.timestamp
                let partition = message.partition
                let offset = message.offset
                if let repartitioner {
                    KafkaBytes.withOptional(message.key) { key in
                        KafkaBytes.withOptional(message.value) { value in
                            repartitioner.process(
                                value: value, key: key, timestamp: timestamp, partition: partition, offset: offset,
                                headers: { message.headers.map { KafkaOutgoingHeader(name: $0.name.string, value: $0.value?.array) } },
                                into: sink)
                        }
                    }
                    continue
                }
                guard !targets.isEmpty else { continue }
                KafkaBytes.withOptional(message.key) { key in
                    KafkaBytes.withOptional(message.value) { value in
                        for target in targets {
                            target._withUnsafeGuaranteedRef {
                                _ = $0.process(
                                    value: value, key: key, timestamp: timestamp, partition: partition, offset: offset, now: now,
                                    into: sink)
                            }
                        }
                    }
                }
            }
            for target in batched { target._withUnsafeGuaranteedRef { $0.endBatch(into: sink) } }
        }
        if tick {
            for processor in orderedProcessors { processor.advance(now: now, into: sink) }
        }
        sink.serveDeliveries()
    }

    // MARK: Catching up

    /// Processes the messages at `positions` of `messages`, read by the catch-up reader, for
    /// the states catching up on their partitions.
    func catchUpStep(_ messages: KafkaMessageBatch, positions: some Collection<Int>, now: Int64) {
        sink.now = now
        var topic: KafkaTopicIdentity?
        var partition: Int32 = -1
        var targets: [AppProcessor] = []
        var handover: Int64 = .max
        for position in positions {
            let message = messages[position]
            if message.topicIdentity != topic || message.partition != partition {
                topic = message.topicIdentity
                partition = message.partition
                targets = apps(reading: message.topic)
                // The shared stream does not move during this step.
                handover = sharedPosition(topic: message.topic, partition: partition) ?? .max
            }
            let timestamp = message.timestamp
            let offset = message.offset
            KafkaBytes.withOptional(message.key) { key in
                KafkaBytes.withOptional(message.value) { value in
                    for target in targets {
                        target.processCatchingUp(
                            value: value, key: key, timestamp: timestamp, partition: partition, offset: offset,
                            handover: handover, now: now, into: sink)
                    }
                }
            }
        }
        for processor in orderedProcessors { processor.endBatch(into: sink) }
        sink.serveDeliveries()
    }

    /// The catch-up reader reached the end of a partition at `offset`.
    func caughtUp(topic: String, partition: Int32, at offset: Int64) {
        guard let handover = sharedPosition(topic: topic, partition: partition) else { return }
        for app in apps(reading: topic) { app.caughtUp(partition: partition, at: offset, handover: handover) }
    }

    /// Where the shared stream of a partition stands, at most: the furthest position of the
    /// states that take it (a state that skips ahead stands ahead of it); nil when none does.
    func sharedPosition(topic: String, partition: Int32) -> Int64? {
        states(of: topic, partition: partition).filter { !$0.catchingUp }.map(\.position).max()
    }

    /// Every app's state of a partition.
    func states(of topic: String, partition: Int32) -> [PartitionState] {
        apps(reading: topic).compactMap { $0.state(of: partition) }
    }

    // MARK: Checkpoints

    /// Takes a checkpoint of every state that changed or moved since the last one, unless the
    /// last one is not written yet (a slow broker then gets one checkpoint at a time).
    ///
    /// - Parameter restoring: input partitions some app is still being restored for: their
    ///   offsets are not committed yet (that app stands further back).
    func takeCheckpoint(restoring: Set<TopicPartition>) {
        guard pending == nil else { return }
        var records = ChangelogBatch()
        var positions: [TopicPartition: Int64] = [:]
        for processor in orderedProcessors {
            guard let changelog = changelogs[processor.app.name] else { continue }
            for partition in processor.heldPartitions {
                let state = processor.state(of: partition)!
                let input = TopicPartition(topic: processor.app.input.topic, partition: partition)
                // A state catching up is not where the input is read for the others: what the
                // group commits is theirs; the state's own position is in its changelog.
                if !restoring.contains(input) && !state.catchingUp {
                    positions[input] = min(positions[input] ?? .max, state.position)
                }
                changedDevices.removeAll(keepingCapacity: true)
                changedPartitions.removeAll(keepingCapacity: true)
                state.engine.takeChangedDevices(into: &changedDevices)
                state.engine.takeChangedPartitions(into: &changedPartitions)
                guard !changedDevices.isEmpty || !changedPartitions.isEmpty || state.position != state.checkpointed else { continue }
                for device in changedDevices {
                    // A device ahead of the state (restored from a checkpoint cut short) keeps
                    // its own position: its state holds readings the partition's does not.
                    records.appendDevice(device, of: state, topic: changelog, partition: partition, position: state.position(of: device))
                }
                // Written last, once the device records are acknowledged (see PendingCheckpoint).
                records.appendPartition(of: state, topic: changelog, partition: partition, position: state.position)
                state.checkpointed = state.position
            }
        }
        for repartitioner in repartitioners.values {
            for (partition, position) in repartitioner.positions {
                let input = TopicPartition(topic: repartitioner.source, partition: partition)
                if !restoring.contains(input) { positions[input] = position }
            }
        }
        guard !records.isEmpty || !positions.isEmpty else { return }
        pending = PendingCheckpoint(
            after: sink.lastSent, records: records, positions: positions.map { ($0.key, $0.value) }, takenAt: clients.now())
    }

    /// Writes the pending checkpoint as far as is safe: its device records once every output
    /// sent before it is acknowledged, its partition records once those are, and then its
    /// input offsets are committable once the partition records are acknowledged too.
    func writeCheckpointIfSafe() {
        guard var checkpoint = pending, sink.isAcknowledged(through: checkpoint.after) else { return }
        if !checkpoint.devicesSent {
            sink.sendChangelog(checkpoint.records, partitionRecords: false)
            checkpoint.devicesSent = true
            checkpoint.after = sink.lastSent
            pending = checkpoint
            // None sent (only positions moved): the partition records may follow at once.
            guard sink.isAcknowledged(through: checkpoint.after) else { return }
        }
        pending = nil
        sink.sendChangelog(checkpoint.records, partitionRecords: true)
        for (partition, offset) in checkpoint.positions { sink.processed(partition, nextOffset: offset) }
        written = (sink.lastSent, checkpoint.takenAt)
    }

    /// Writes the pending checkpoint to the end, waiting for the broker until `deadline`.
    func writeCheckpoint(until deadline: ContinuousClock.Instant) {
        while pending != nil, sink.deliveryFailure == nil, clients.now() < deadline {
            writeCheckpointIfSafe()
            sink.flush(timeout: clients.remaining(until: deadline))
        }
    }

    /// Milliseconds from taking the last checkpoint to its last record's acknowledgement,
    /// once, when it is acknowledged.
    func takeCheckpointDuration() -> Int64? {
        guard let written, sink.isAcknowledged(through: written.token) else { return nil }
        self.written = nil
        let (seconds, attoseconds) = (clients.now() - written.takenAt).components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    // MARK: Output

    /// Why the producer can no longer be used (fenced, or another fatal error).
    var fatalError: String? { sink.fatalError }

    /// Why a delivery failed for good, if one did.
    var deliveryFailure: String? { sink.deliveryFailure }

    /// Outputs and changelog records sent and not yet answered.
    var inFlight: Int { sink.inFlight }

    /// The cluster the input offsets belong to, once known: named on each partition record.
    var cluster: String? {
        get { sink.cluster }
        set { sink.cluster = newValue }
    }

    /// Waits until every record sent is answered (or `timeout` passes).
    func flush(timeout: Duration) { sink.flush(timeout: timeout) }

    /// Settles the delivery reports that arrived, waiting up to `timeout` for one.
    func serveDeliveries(timeout: Duration) { sink.serveDeliveries(timeout: timeout) }

    /// At least once: the input offsets that may be committed now.
    func takeCommittable() -> [(partition: TopicPartition, offset: Int64)] { sink.takeCommittable() }

    /// Whether the broker acknowledged some record since the last call.
    func takeAcknowledgedAny() -> Bool { sink.takeAcknowledgedAny() }

    /// What the output counted since the last call, for the metrics.
    func takeOutputCounts() -> (emitLatencies: [Int64], clientErrors: Int, changelogBytes: Int) {
        (sink.takeLatencies(), sink.takeClientErrors(), sink.takeChangelogBytes())
    }

    /// Records written to each repartition topic since the last call, by input topic.
    func takeRepartitionedCounts() -> [(topic: String, count: Int)] {
        repartitioners.values.map { ($0.source, $0.takeCount()) }.filter { $0.count > 0 }
    }

    /// Drops everything of a partition taken away: its apps' states and its commit bookkeeping.
    func release(_ partition: TopicPartition) {
        sink.forget(partition)
        drop(topic: partition.topic, partition: partition.partition)
    }

    // MARK: Transactions (exactly once)

    /// Registers the shard's transactional producer (fencing an earlier instance of it) and
    /// opens the first transaction.
    func startTransactions() throws(KafkaError) {
        try sink.startTransactions(timeout: .seconds(60))
    }

    /// Takes a checkpoint of the changed states and commits it in one transaction with every
    /// output sent since the last one and the input offsets the states cover, then opens the
    /// next transaction.
    func commitTransaction(
        group: KafkaConsumerGroupMetadata, restoring: Set<TopicPartition>, timeout: Duration = .seconds(60)
    ) throws(KafkaError) {
        takeCheckpoint(restoring: restoring)
        var offsets: [KafkaTopicPartition] = []
        if let checkpoint = pending {
            pending = nil
            // All at once: the transaction makes them visible together or not at all.
            sink.sendChangelog(checkpoint.records, partitionRecords: false)
            sink.sendChangelog(checkpoint.records, partitionRecords: true)
            offsets = checkpoint.positions.map { KafkaTopicPartition($0.partition, offset: $0.offset) }
        }
        try sink.commitTransaction(offsets: offsets, group: group, timeout: timeout)
    }

    /// Aborts the open transaction: its outputs and changelog records are never visible to
    /// read-committed consumers; the caller drops the states that produced them.
    func abortTransaction() throws(KafkaError) {
        pending = nil
        try sink.abortTransaction(timeout: .seconds(60))
    }

    /// A failure ends the process: the open transaction is aborted if the producer can still
    /// do it (a fenced or failed one cannot; the broker aborts it), none is opened after it.
    func abandonTransaction(timeout: Duration) {
        guard sink.fatalError == nil else { return }
        try? sink.abortTransaction(timeout: timeout, reopen: false)
    }
}

/// A thread that steps one shard when told to, and says when it is done.
final class ShardThread: @unchecked Sendable {
    // @unchecked Sendable: `shard` and the step inputs are only touched by the thread between
    // `begin` and the `done` signal, and by the consumer loop outside that span; the
    // semaphores order the two.
    private let shard: Shard
    private let start = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var batch: UnsafeBatch?
    private var positions: [Int] = []
    private var now: Int64 = 0
    private var tick = false
    private var catchingUp = false
    private var finished = false

    init(shard: Shard) {
        self.shard = shard
        let thread = Thread { [self] in
            while true {
                start.wait()
                if finished { return }
                if catchingUp {
                    self.shard.catchUpStep(batch!.messages, positions: positions[...], now: now)
                } else {
                    self.shard.step(batch!.messages, positions: positions[...], now: now, tick: tick)
                }
                batch = nil
                done.signal()
            }
        }
        thread.name = "tidemark-shard-\(shard.index)"
        thread.start()
    }

    /// Steps the shard over `batch` (read by the catch-up reader when `catchingUp`).
    func begin(_ batch: UnsafeBatch, positions: [Int], now: Int64, tick: Bool, catchingUp: Bool) {
        self.batch = batch
        self.positions = positions
        self.now = now
        self.tick = tick
        self.catchingUp = catchingUp
        start.signal()
    }

    func waitUntilDone() { done.wait() }

    func finish() {
        finished = true
        start.signal()
    }
}

/// A poll's batch lent to shard threads for one step.
// @unchecked Sendable: the consumer loop does not poll again (which would release the
// messages) until every shard thread has signalled that its step is done, and it names the
// batch's topics before lending it (`KafkaMessageBatch.nameTopics`), so the threads' lookups of
// topic names only read the consumer's cache.
struct UnsafeBatch: @unchecked Sendable {
    let messages: KafkaMessageBatch
}
