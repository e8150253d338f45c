// One shard of `tidemark run`: the partitions whose number maps to it, the apps' processors
// for them, a producer, and the commit bookkeeping of what that producer sent. A shard is
// stepped by one thread at a time, so nothing in it is locked.
import Foundation
import Kafka
import Logging

/// The processors and output of one shard of partitions.
///
/// Confinement: a shard is used by one thread at a time. The consumer loop hands it to its
/// ``ShardThread`` for a step and takes it back after the step's barrier.
final class Shard {
    let index: Int
    let sink: KafkaOutputSink
    private(set) var processors: [String: AppProcessor] = [:]
    /// Unretained: `processors` owns them. Calls through guaranteed references spare the
    /// record path a retain and a release per app and record.
    private var processorsByTopic: [String: [Unmanaged<AppProcessor>]] = [:]
    private let logger: Logger

    init(index: Int, producerConfig: KafkaConfig, logger: Logger) throws(KafkaError) {
        self.index = index
        var logger = logger
        logger[metadataKey: "shard"] = "\(index)"
        self.logger = logger
        sink = KafkaOutputSink(producer: try KafkaProducer(config: producerConfig), logger: logger)
    }

    /// The topics some app of this shard reads.
    var topics: [String] { processorsByTopic.keys.sorted() }

    /// Switches to a new app set: apps whose definition did not change keep their state.
    func install(_ apps: [AppDefinition]) {
        var next: [String: AppProcessor] = [:]
        for app in apps {
            if let existing = processors[app.name], existing.app == app {
                next[app.name] = existing
                continue
            }
            do {
                next[app.name] = try AppProcessor(app: app)
                if index == 0 {
                    logger.info(processors[app.name] == nil ? "app started" : "app restarted with its new definition", metadata: ["app": "\(app.name)"])
                }
            } catch {
                logger.error("app not started", metadata: ["app": "\(app.name)", "error": "\(error)"])
            }
        }
        if index == 0 {
            for name in processors.keys where next[name] == nil { logger.info("app stopped", metadata: ["app": "\(name)"]) }
        }
        processors = next
        processorsByTopic = Dictionary(grouping: next.values.sorted { $0.app.name < $1.app.name }, by: \.app.input.topic)
            .mapValues { $0.map(Unmanaged.passUnretained) }
    }

    /// Processes the messages at `positions` of `messages` (all of this shard's partitions),
    /// then serves the producer; on a tick, also lets processing time pass.
    func step(_ messages: KafkaMessageBatch, positions: some Collection<Int>, now: Int64, tick: Bool) {
        sink.now = now
        Unmanaged.passUnretained(sink)._withUnsafeGuaranteedRef { sink in
            var topic: KafkaTopicIdentity?
            var targets: [Unmanaged<AppProcessor>] = []
            var batched: [Unmanaged<AppProcessor>] = []  // whose batch ends with this step
            for position in positions {
                let message = messages[position]
                if message.topicIdentity != topic {
                    topic = message.topicIdentity
                    targets = processorsByTopic[message.topic] ?? []
                    batched += targets
                }
                guard !targets.isEmpty else { continue }
                let timestamp = message.timestamp
                let partition = message.partition
                withBytes(message.key) { key in
                    withBytes(message.value) { value in
                        for target in targets {
                            target._withUnsafeGuaranteedRef {
                                _ = $0.process(value: value, key: key, timestamp: timestamp, partition: partition, now: now, into: sink)
                            }
                        }
                    }
                }
            }
            for target in batched { target._withUnsafeGuaranteedRef { $0.endBatch(into: sink) } }
        }
        if tick {
            for processor in processors.values { processor.advance(now: now, into: sink) }
        }
        sink.serveDeliveries()
    }
}

/// Calls `body` with the bytes of a message part, or nil when it is absent.
@inline(__always)
private func withBytes<R>(_ bytes: KafkaBytes?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
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

/// A poll's batch lent to shard threads for one step.
// @unchecked Sendable: the consumer loop does not poll again (which would release the
// messages) until every shard thread has signalled that its step is done.
struct UnsafeBatch: @unchecked Sendable {
    let messages: KafkaMessageBatch
}
