// Restores partitions off the consumer loop: a thread with a consumer of its own reads each
// requested changelog partition to its end and rebuilds the apps' states, while the loop
// keeps processing the partitions that need no restore. The loop pauses a partition until its
// states arrive, installs them, and resumes reading it where they stand.
import Foundation
import Kafka
import Logging
import Streaming
import Synchronization

/// One input partition to restore, for the apps that read its topic.
package struct RestoreRequest: Sendable {
    package struct App: Sendable {
        package var definition: AppDefinition
        package var changelog: String

        package init(definition: AppDefinition, changelog: String) {
            self.definition = definition
            self.changelog = changelog
        }
    }

    /// Which assignment of the partition this is for; a later one supersedes it.
    package var generation: Int
    package var topic: String
    package var partition: Int32
    package var apps: [App]
    /// Where an app with no state starts: where the partition's other apps stand when they
    /// are reading it already; nil: the group's committed offset (or `auto.offset.reset`).
    package var freshStart: Int64?

    package init(generation: Int, topic: String, partition: Int32, apps: [App], freshStart: Int64? = nil) {
        self.generation = generation
        self.topic = topic
        self.partition = partition
        self.apps = apps
        self.freshStart = freshStart
    }
}

/// The states of one restored input partition (or why it could not be restored).
package struct RestoredPartition: @unchecked Sendable {
    // @unchecked Sendable: the states were built by the restorer thread, which keeps no
    // reference to them once it hands this value over; the loop thread owns them after.
    package var generation: Int
    package var topic: String
    package var partition: Int32
    /// Per app name, its state.
    package var states: [String: PartitionState]
    package var records: Int
    package var bytes: Int
    package var devices: Int
    package var seconds: Double
    /// Of `seconds`, the time spent reading the changelog (the rest is rebuilding state).
    package var readSeconds: Double
    package var error: String?
}

/// The thread that restores partitions, one request after another (or, where the clients
/// say restores run inline, the caller of ``takeResults()``).
package final class Restorer: Sendable {
    private let requests = Mutex<[RestoreRequest]>([])
    private let results = Mutex<[RestoredPartition]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let clients: any KafkaClientFactory
    private let logger: Logger
    /// Inline: the reader, made on first use (nil otherwise, and until then).
    private let inlineReader = Mutex<ChangelogReader?>(nil)
    private let readerConfig: KafkaConfig
    private let autoOffsetReset: String
    private let clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - config: client properties and `group.id` (to read the group's committed offsets for
    ///     apps with no state yet); no group is joined.
    ///   - onResult: called on the restorer thread when a result is ready (to wake the loop).
    package init(
        config: KafkaConfig, clients: any KafkaClientFactory = LiveKafkaClients(), clock: @escaping @Sendable () -> Int64, logger: Logger,
        onResult: @escaping @Sendable () -> Void
    ) {
        var readerConfig = config
        readerConfig["enable.partition.eof"] = "true"
        readerConfig["enable.auto.commit"] = "false"
        // Restoring is reading to the end: a fetch need not wait for more data.
        readerConfig["fetch.wait.max.ms"] = "10"
        self.readerConfig = readerConfig
        self.clients = clients
        self.logger = logger
        self.clock = clock
        autoOffsetReset = config["auto.offset.reset"] ?? "earliest"
        guard !clients.restoresInline else { return }
        Thread { [self] in
            defer { finished.signal() }
            let reader: ChangelogReader
            do {
                reader = try makeReader()
            } catch {
                logger.critical("restorer cannot start", metadata: ["error": "\(error)"])
                return
            }
            defer { _ = try? reader.consumer.close(timeout: KafkaConsumer.closeTimeout) }
            while true {
                wake.wait()
                if stopped.load(ordering: .acquiring) { return }
                // Whatever is queued is read together: one assignment, one stream of fetches.
                let batch = requests.withLock { requests in
                    defer { requests.removeAll() }
                    return requests
                }
                guard !batch.isEmpty else { continue }
                for result in reader.restore(batch) {
                    log(result)
                    results.withLock { $0.append(result) }
                }
                onResult()
            }
        }.start()
    }

    private func makeReader() throws(KafkaError) -> ChangelogReader {
        ChangelogReader(
            consumer: try clients.consumer(config: readerConfig, fairPartitions: false, rebalance: nil), clients: clients, clock: clock,
            autoOffsetReset: autoOffsetReset)
    }

    private func log(_ result: RestoredPartition) {
        let partition = "\(result.topic)/\(result.partition)"
        if let error = result.error {
            logger.error("restore failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
        } else {
            logger.info(
                "partition restored",
                metadata: [
                    "partition": "\(partition)", "devices": "\(result.devices)", "records": "\(result.records)",
                    "seconds": "\((result.seconds * 1000).rounded() / 1000)",
                ])
        }
    }

    /// Inline: restores what was requested, on the caller's thread.
    private func restoreInline() {
        let batch = requests.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
        guard !batch.isEmpty else { return }
        let restored = inlineReader.withLock { (reader) -> [RestoredPartition] in
            do {
                if reader == nil { reader = try makeReader() }
                return reader!.restore(batch)
            } catch {
                return batch.map { request in
                    RestoredPartition(
                        generation: request.generation, topic: request.topic, partition: request.partition, states: [:], records: 0,
                        bytes: 0, devices: 0, seconds: 0, readSeconds: 0, error: "the restorer cannot start: \(error)")
                }
            }
        }
        for result in restored { log(result) }
        results.withLock { $0.append(contentsOf: restored) }
    }

    /// Asks for a partition to be restored.
    package func request(_ request: RestoreRequest) {
        requests.withLock { $0.append(request) }
        wake.signal()
    }

    /// The restores finished since the last call.
    package func takeResults() -> [RestoredPartition] {
        if clients.restoresInline { restoreInline() }
        return results.withLock { results in
            defer { results.removeAll() }
            return results
        }
    }

    /// Stops the thread (after the restore under way) and closes its consumer, waiting for
    /// that until `deadline` at most: a restore waiting on a broker that is gone is left to
    /// end with the process.
    package func stop(waitingUntil deadline: ContinuousClock.Instant? = nil) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let left = deadline.map(clients.remaining) ?? .seconds(60)
        guard !clients.restoresInline else {
            inlineReader.withLock { reader in _ = try? reader?.consumer.close(timeout: left) }
            return
        }
        wake.signal()
        let (seconds, attoseconds) = left.components
        _ = finished.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
    }
}

/// Reads changelog partitions to their end: the restorer thread's consumer and what it does.
private struct ChangelogReader {
    let consumer: any KafkaConsumerClient
    let clients: any KafkaClientFactory
    let clock: @Sendable () -> Int64
    let autoOffsetReset: String
    /// How long the changelog partitions of one round may take to read to their ends.
    static let limit: Duration = .seconds(300)

    /// Restores every request: their changelog partitions are read together, then each
    /// request's states are rebuilt.
    func restore(_ requests: [RestoreRequest]) -> [RestoredPartition] {
        let started = clients.now()
        var results = requests.map { request in
            RestoredPartition(
                generation: request.generation, topic: request.topic, partition: request.partition, states: [:], records: 0,
                bytes: 0, devices: 0, seconds: 0, readSeconds: 0, error: nil)
        }
        let changelogs = requests.flatMap { request in
            request.apps.map { KafkaTopicPartition(topic: $0.changelog, partition: request.partition) }
        }
        let contents: [KafkaTopicPartition: ChangelogContents]
        let unreadable: [KafkaTopicPartition: String]
        let starts: [KafkaTopicPartition: Int64]
        do {
            (contents, unreadable) = try read(Array(Set(changelogs)))
            starts = try freshStarts(
                requests.filter { $0.freshStart == nil }.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition) })
        } catch {
            for index in results.indices { results[index].error = "\(error)" }
            return results
        }
        let readSeconds = seconds(clients.now() - started)
        for (index, request) in requests.enumerated() {
            let rebuilding = clients.now()
            let freshStart = request.freshStart ?? starts[KafkaTopicPartition(topic: request.topic, partition: request.partition)] ?? 0
            var inputEnd: Int64?
            for app in request.apps {
                let key = KafkaTopicPartition(topic: app.changelog, partition: request.partition)
                if let error = unreadable[key] {
                    results[index].error = "changelog \(app.changelog)[\(request.partition)] of app \(app.definition.name): \(error)"
                    break
                }
                let changelog = contents[key] ?? ChangelogContents()
                results[index].records += changelog.records
                results[index].bytes += changelog.bytes
                results[index].devices += changelog.devices.count
                do {
                    if let written = changelog.cluster, let current = consumer.clusterID(timeout: .seconds(10)), written != current {
                        throw RestoreFailure(
                            description: "its positions are offsets of cluster \(written), but this is cluster \(current): the same offsets "
                                + "are other records here; delete the changelog topic to start the app afresh on this cluster")
                    }
                    if let covered = changelog.furthestPosition {
                        let end = try inputEnd ?? consumer.watermarks(topic: request.topic, partition: request.partition, timeout: .seconds(30)).high
                        inputEnd = end
                        // Skipping what the state covers would skip every record up to there.
                        guard covered <= end else {
                            throw RestoreFailure(
                                description: "it covers \(request.topic)/\(request.partition) up to offset \(covered), but the partition ends at "
                                    + "offset \(end): the input topic was recreated or truncated after the state was written; "
                                    + "delete the changelog topic to start the app afresh")
                        }
                    }
                    let start = try app.definition.input.start.map { try offset(of: $0, topic: request.topic, partition: request.partition) }
                    let state = try changelog.restore(
                        makeEngine: app.definition.makeEngine, partition: request.partition, freshStart: start ?? freshStart, now: clock())
                    // What an earlier owner may have read after its last checkpoint.
                    let end = try inputEnd ?? consumer.watermarks(topic: request.topic, partition: request.partition, timeout: .seconds(30)).high
                    inputEnd = end
                    state.replayUntil = end
                    results[index].states[app.definition.name] = state
                } catch {
                    results[index].states = [:]
                    results[index].error = "changelog \(app.changelog)[\(request.partition)] of app \(app.definition.name): \(error)"
                    break
                }
            }
            // The read is shared: each partition is charged its share of it.
            results[index].readSeconds = readSeconds / Double(requests.count)
            results[index].seconds = results[index].readSeconds + seconds(clients.now() - rebuilding)
        }
        return results
    }

    /// Where an app with no state starts reading each partition: the group's committed
    /// offset, or where `auto.offset.reset` says when the group has none.
    private func freshStarts(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        var starts: [KafkaTopicPartition: Int64] = [:]
        for committed in try consumer.committed(partitions, timeout: .seconds(30)) {
            let partition = KafkaTopicPartition(topic: committed.topic, partition: committed.partition)
            if committed.offset >= 0 {
                starts[partition] = committed.offset
            } else {
                let (low, high) = try consumer.watermarks(topic: committed.topic, partition: committed.partition, timeout: .seconds(30))
                starts[partition] = ["latest", "end", "largest"].contains(autoOffsetReset) ? high : low
            }
        }
        return starts
    }

    /// The first offset of a partition that `input.start` says an app with no state reads.
    private func offset(of start: InputStart, topic: String, partition: Int32) throws -> Int64 {
        let (low, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
        switch start {
        case .earliest: return low
        case .latest: return high
        case .ago(let milliseconds):
            let (time, overflow) = clock().subtractingReportingOverflow(milliseconds)
            let asked = KafkaTopicPartition(topic: topic, partition: partition, offset: overflow ? 0 : max(0, time))
            // No record that recent: the app starts at the end.
            let found = try consumer.offsetsForTimes([asked], timeout: .seconds(30)).first?.offset ?? -1
            return found >= 0 ? min(max(found, low), high) : high
        }
    }

    /// Every live record of the changelog partitions, newest per key: read from their
    /// beginnings until each signals its end; a partition with a record this version cannot
    /// read is unreadable (with why), and the others are read on.
    private func read(
        _ partitions: [KafkaTopicPartition]
    ) throws -> (contents: [KafkaTopicPartition: ChangelogContents], unreadable: [KafkaTopicPartition: String]) {
        var contents: [KafkaTopicPartition: ChangelogContents] = [:]
        var unreadable: [KafkaTopicPartition: String] = [:]
        guard !partitions.isEmpty else { return (contents, unreadable) }
        try consumer.assign(partitions.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition, offset: KafkaTopicPartition.beginningOffset) })
        defer { try? consumer.assign([]) }
        var open = Set(partitions)
        let deadline = clients.now() + Self.limit
        while !open.isEmpty {
            guard clients.now() < deadline else {
                throw RestoreFailure(description: "changelog partitions \(open.map(\.description).sorted()) not read to their end within \(Self.limit)")
            }
            let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 16_384)
            for message in poll.messages {
                let partition = KafkaTopicPartition(topic: message.topic, partition: message.partition)
                guard unreadable[partition] == nil else { continue }
                do {
                    try KafkaBytes.withOptional(message.key) { key in
                        guard let key else { throw ChangelogRestoreError.unknownKey([]) }
                        try KafkaBytes.withOptional(message.value) { value in
                            // Headers are looked up for the few records that carry one.
                            try contents[partition, default: ChangelogContents()].add(
                                key: key, value: value,
                                tombstonePosition: message.header(ChangelogValue.positionHeader).flatMap { Int64($0.string) },
                                cluster: message.header(ChangelogValue.clusterHeader)?.string,
                                origins: message.header(ChangelogValue.originsHeader)?.string)
                        }
                    }
                } catch {
                    unreadable[partition] = "at offset \(message.offset): \(error)"
                }
            }
            // librdkafka tells the end of a partition once everything before it was returned
            // (compaction may leave no record at the last offsets).
            for case .partitionEOF(let end) in poll.events {
                open.remove(KafkaTopicPartition(topic: end.topic, partition: end.partition))
            }
        }
        return (contents, unreadable)
    }

    private func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// A restore that cannot finish.
struct RestoreFailure: Error, CustomStringConvertible {
    var description: String
}
