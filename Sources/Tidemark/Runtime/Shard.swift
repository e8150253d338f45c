// One shard of `tidemark run`: the apps' processors and a producer for the partitions that
// hash to it. A shard's state is only touched by whoever runs its step, one at a time.
import Kafka
import Logging

/// The processors and output of one shard of partitions.
///
/// Confinement: a shard is used by one thread at a time. The pipeline hands it to its
/// worker for a step and takes it back after the step's barrier.
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
