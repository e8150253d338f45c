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
    package var error: String?
}

/// The thread that restores partitions, one request after another.
package final class Restorer: Sendable {
    private let requests = Mutex<[RestoreRequest]>([])
    private let results = Mutex<[RestoredPartition]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - config: client properties and `group.id` (to read the group's committed offsets for
    ///     apps with no state yet); no group is joined.
    ///   - onResult: called on the restorer thread when a result is ready (to wake the loop).
    package init(
        config: KafkaConfig, clock: @escaping @Sendable () -> Int64, logger: Logger, onResult: @escaping @Sendable () -> Void
    ) {
        Thread { [self] in
            defer { finished.signal() }
            let consumer: KafkaConsumer
            do {
                var config = config
                config["enable.partition.eof"] = "true"
                config["enable.auto.commit"] = "false"
                consumer = try KafkaConsumer(config: config)
            } catch {
                logger.critical("restorer cannot start", metadata: ["error": "\(error)"])
                return
            }
            defer { try? consumer.close() }
            var reader = ChangelogReader(consumer: consumer, clock: clock, autoOffsetReset: config["auto.offset.reset"] ?? "earliest")
            while true {
                wake.wait()
                if stopped.load(ordering: .acquiring) { return }
                let next = requests.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                guard let request = next else { continue }
                let result = reader.restore(request)
                if let error = result.error {
                    logger.error("restore failed", metadata: ["partition": "\(request.topic)/\(request.partition)", "error": "\(error)"])
                } else {
                    logger.info(
                        "partition restored",
                        metadata: [
                            "partition": "\(request.topic)/\(request.partition)", "devices": "\(result.devices)",
                            "records": "\(result.records)", "seconds": "\(result.seconds)",
                        ])
                }
                results.withLock { $0.append(result) }
                onResult()
            }
        }.start()
    }

    /// Asks for a partition to be restored.
    package func request(_ request: RestoreRequest) {
        requests.withLock { $0.append(request) }
        wake.signal()
    }

    /// The restores finished since the last call.
    package func takeResults() -> [RestoredPartition] {
        results.withLock { results in
            defer { results.removeAll() }
            return results
        }
    }

    /// Stops the thread (after the restore under way) and closes its consumer.
    package func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        finished.wait()
    }
}

/// Reads changelog partitions to their end: the restorer thread's consumer and what it does.
private struct ChangelogReader {
    let consumer: KafkaConsumer
    let clock: @Sendable () -> Int64
    let autoOffsetReset: String
    /// How long a changelog partition may take to read to its end.
    static let limit: Duration = .seconds(300)

    func restore(_ request: RestoreRequest) -> RestoredPartition {
        let started = ContinuousClock.now
        var result = RestoredPartition(
            generation: request.generation, topic: request.topic, partition: request.partition, states: [:], records: 0,
            bytes: 0, devices: 0, seconds: 0, error: nil)
        do {
            let freshStart = try request.freshStart ?? freshStart(topic: request.topic, partition: request.partition)
            for app in request.apps {
                do {
                    let contents = try read(topic: app.changelog, partition: request.partition)
                    result.records += contents.records
                    result.bytes += contents.bytes
                    result.devices += contents.devices.count
                    result.states[app.definition.name] = try contents.restore(
                        makeEngine: app.definition.makeEngine, partition: request.partition, freshStart: freshStart, now: clock())
                } catch let error as RestoreFailure {
                    throw error
                } catch {
                    throw RestoreFailure(description: "changelog \(app.changelog)[\(request.partition)] of app \(app.definition.name): \(error)")
                }
            }
        } catch {
            result.states = [:]
            result.error = "\(error)"
        }
        result.seconds = seconds(ContinuousClock.now - started)
        return result
    }

    /// Where an app with no state starts reading: the group's committed offset, or where
    /// `auto.offset.reset` says when the group has none.
    private func freshStart(topic: String, partition: Int32) throws -> Int64 {
        let committed = try consumer.committed([KafkaTopicPartition(topic: topic, partition: partition)], timeout: .seconds(30))
        if let offset = committed.first?.offset, offset >= 0 { return offset }
        let (low, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
        return autoOffsetReset == "latest" || autoOffsetReset == "end" || autoOffsetReset == "largest" ? high : low
    }

    /// Every live record of one changelog partition, newest per key.
    private func read(topic: String, partition: Int32) throws -> ChangelogContents {
        var contents = ChangelogContents()
        let (low, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(30))
        guard high > low else { return contents }
        try consumer.assign([KafkaTopicPartition(topic: topic, partition: partition, offset: KafkaTopicPartition.beginningOffset)])
        defer { try? consumer.assign([]) }
        let deadline = ContinuousClock.now + Self.limit
        var next = low
        while next < high {
            guard ContinuousClock.now < deadline else {
                throw RestoreFailure(description: "changelog \(topic)[\(partition)] not read to its end (\(high)) within \(Self.limit): at \(next)")
            }
            let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 4096)
            for message in poll.messages where message.topic == topic && message.partition == partition {
                let position = message.header(ChangelogValue.positionHeader).flatMap { Int64($0.string) }
                try withBytes(message.key) { key in
                    guard let key else { throw ChangelogRestoreError.unknownKey([]) }
                    try withBytes(message.value) { value in
                        try contents.add(key: key, value: value, tombstonePosition: position)
                    }
                }
                next = message.offset + 1
            }
            for case .partitionEOF(let end) in poll.events where end.topic == topic && end.partition == partition {
                // Compaction may leave no record at the last offsets: the end is where reading ends.
                next = max(next, end.offset)
            }
        }
        return contents
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

@inline(__always)
private func withBytes<R>(_ bytes: KafkaBytes?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    guard let bytes else { return try body(nil) }
    return try bytes.withUnsafeBytes { try body($0) }
}
