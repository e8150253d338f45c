// `tidemark replay`: one app over what its input topic holds between two points, read from
// Kafka. Each partition is read from the first offset at or after the start to its end as it
// was when the replay began (or the first offset at or after `to`), in its own order, and
// every window closes at the end: the same `AppProcessor` as `batch` and `run`, so the final
// revisions are those `batch` gives over the same records.
import Kafka
import Logging

/// Where a replay starts reading.
package enum ReplayStart: Sendable, Equatable {
    /// The oldest record each partition retains.
    case earliest
    /// The first record with a timestamp at or after this time (epoch ms).
    case time(Int64)
}

/// Where a replay's outputs go.
package enum ReplayDestination: Sendable, Equatable {
    /// Results and trigger events as JSON lines, the format `batch` writes; late records to
    /// `late` (if given), each naming its partition and offset.
    case files(output: String, late: String?)
    /// The app's output and late topics, as `run` produces them.
    case topics
}

/// How far a replay has come.
package struct ReplayProgress: Sendable, Equatable {
    /// Records read.
    package var records = 0
    /// Offsets passed and to pass, over every partition (a compacted or transactional topic
    /// has fewer records than offsets).
    package var offsets: Int64 = 0
    package var totalOffsets: Int64 = 0
    package var partitionsDone = 0
    package var partitions = 0
    package var seconds = 0.0

    /// Records per second so far.
    package var rate: Double { seconds > 0 ? Double(records) / seconds : 0 }

    /// Seconds left at the rate so far; nil before anything was read.
    package var secondsLeft: Double? {
        guard offsets > 0, seconds > 0 else { return nil }
        return Double(totalOffsets - offsets) / (Double(offsets) / seconds)
    }
}

/// What a replay did.
package struct ReplaySummary: Sendable, Equatable {
    package var progress = ReplayProgress()
    package var counts = AppCounts()
}

/// A problem that stops a replay (malformed records do not).
package enum ReplayError: Error, CustomStringConvertible {
    case invalidApp(String)
    case noInputTopic(String)
    case kafka(KafkaError)
    case output(BatchError)
    case delivery(String)

    package var description: String {
        switch self {
        case .invalidApp(let reason): reason
        case .noInputTopic(let topic): "input topic \(topic) does not exist"
        case .kafka(let error): "\(error)"
        case .output(let error): "\(error)"
        case .delivery(let reason): reason
        }
    }
}

/// Runs one app over a stretch of its input topic.
package enum ReplayRun {
    /// - Parameters:
    ///   - kafka: client properties with `bootstrap.servers`; a `group.id` is only named
    ///     (`tidemark-replay-<app>` by default), never joined or committed to.
    ///   - to: where reading stops (epoch ms): before the first record at or after it; nil:
    ///     at the ends the partitions had when the replay began.
    ///   - now: the processing clock for the whole replay (for `watermark.max_future`).
    ///   - onProgress: called about twice a second, and once at the end.
    package static func run(
        app: AppDefinition, kafka: KafkaConfig, from: ReplayStart, to: Int64?, destination: ReplayDestination,
        logger: Logger, now: Int64 = wallClockMillis(), onProgress: (ReplayProgress) -> Void = { _ in }
    ) throws(ReplayError) -> ReplaySummary {
        let processor: AppProcessor
        do {
            processor = try AppProcessor(app: app)
        } catch {
            throw .invalidApp("\(app.sourceFile): \(error)")
        }
        var config = kafka
        if config["group.id"] == nil { config["group.id"] = "tidemark-replay-\(app.name)" }
        config["enable.auto.commit"] = "false"
        config["enable.partition.eof"] = "true"
        let reader: ReplayReader
        do {
            reader = try ReplayReader(consumer: KafkaConsumer(config: config), topic: app.input.topic, from: from, to: to)
        } catch let error as ReplayError {
            throw error
        } catch {
            throw .kafka(error as! KafkaError)
        }
        defer { try? reader.consumer.close() }
        switch destination {
        case .files(let output, let late):
            let sink: JSONLinesSink
            do { sink = try JSONLinesSink(output: output, late: late) } catch { throw .output(error) }
            return try reader.run(processor, into: sink, now: now, logger: logger, onProgress: onProgress)
        case .topics:
            var producerConfig = kafka
            for (name, value) in KafkaClientDefaults.producer where producerConfig[name] == nil { producerConfig[name] = value }
            let producer: KafkaProducer
            do { producer = try KafkaProducer(config: producerConfig) } catch { throw .kafka(error) }
            return try reader.run(
                processor, into: KafkaOutputSink(producer: producer, logger: logger), now: now, logger: logger, onProgress: onProgress)
        }
    }
}

/// The consumer of a replay and the stretch of each partition it reads.
private final class ReplayReader {
    let consumer: KafkaConsumer
    let topic: String
    /// Per partition, the first offset to read and the offset reading stops at.
    private var starts: [Int64] = []
    private var ends: [Int64] = []
    /// Per partition, the offset after the last record read.
    private var positions: [Int64] = []
    private var open: Set<Int32> = []
    private var progress = ReplayProgress()

    init(consumer: KafkaConsumer, topic: String, from: ReplayStart, to: Int64?) throws {
        self.consumer = consumer
        self.topic = topic
        // A missing topic is most likely a typo: no point waiting long for it to appear.
        guard let count = try consumer.partitionCount(of: topic, timeout: .seconds(5)) else {
            throw ReplayError.noInputTopic(topic)
        }
        let partitions = Array(0..<count)
        let highs = try partitions.map { try consumer.watermarks(topic: topic, partition: $0, timeout: .seconds(30)) }
        switch from {
        case .earliest: starts = highs.map(\.low)
        case .time(let time): starts = try offsets(at: time, highs: highs.map(\.high))
        }
        ends = highs.map(\.high)
        if let to { ends = zip(ends, try offsets(at: to, highs: ends)).map { min($0, $1) } }
        positions = starts
        for partition in partitions where starts[Int(partition)] < ends[Int(partition)] { open.insert(partition) }
        progress.partitions = partitions.count
        progress.partitionsDone = partitions.count - open.count
        progress.totalOffsets = open.map { ends[Int($0)] - starts[Int($0)] }.reduce(0, +)
        try consumer.assign(open.sorted().map { KafkaTopicPartition(topic: topic, partition: $0, offset: starts[Int($0)]) })
    }

    /// Per partition, the first offset whose timestamp is at or after `time`, or the end.
    private func offsets(at time: Int64, highs: [Int64]) throws -> [Int64] {
        let asked = highs.indices.map { KafkaTopicPartition(topic: topic, partition: Int32($0), offset: time) }
        var found = highs
        for answer in try consumer.offsetsForTimes(asked, timeout: .seconds(30)) where answer.offset >= 0 {
            found[Int(answer.partition)] = answer.offset
        }
        return found
    }

    /// Reads every open partition to its end, processing each record, then closes every window.
    func run<Sink: ReplaySink>(
        _ processor: AppProcessor, into sink: Sink, now: Int64, logger: Logger, onProgress: (ReplayProgress) -> Void
    ) throws(ReplayError) -> ReplaySummary {
        let started = ContinuousClock.now
        var lastReport = started
        var clientErrors = 0
        var placement = processor.app.input.repartitions
            ? processor.app.input.deviceField.map { DevicePlacement(deviceField: $0, partitions: Int32(ends.count)) } : nil
        while !open.isEmpty {
            let poll: KafkaConsumerPoll
            do { poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 16_384) } catch { throw .kafka(error) }
            for message in poll.messages {
                let partition = message.partition
                let offset = message.offset
                guard offset < ends[Int(partition)] else {
                    finish(partition)
                    continue
                }
                progress.records += 1
                progress.offsets += offset + 1 - positions[Int(partition)]
                positions[Int(partition)] = offset + 1
                sink.note(partition: partition, offset: offset)
                KafkaBytes.withOptional(message.key) { key in
                    KafkaBytes.withOptional(message.value) { value in
                        // Read as `run` reads it: from the repartition partition of its device.
                        let placed = placement?.partition(of: value) ?? partition
                        _ = processor.process(
                            value: value, key: key, timestamp: message.timestamp, partition: placed, offset: offset, now: now,
                            into: sink)
                    }
                }
                if offset + 1 >= ends[Int(partition)] { finish(partition) }
            }
            for event in poll.events {
                switch event {
                case .partitionEOF(let end) where end.offset >= ends[Int(end.partition)]:
                    finish(end.partition)
                case .error(let error):
                    // librdkafka retries by itself: a broker outage is waited out.
                    clientErrors += 1
                    if clientErrors <= 10 || clientErrors % 1000 == 0 {
                        logger.warning("kafka", metadata: ["error": "\(error)", "count": "\(clientErrors)"])
                    }
                default:
                    break
                }
            }
            processor.endBatch(into: sink)
            try sink.afterBatch()
            if ContinuousClock.now - lastReport >= .milliseconds(500) {
                lastReport = .now
                progress.seconds = seconds(since: started)
                onProgress(progress)
            }
        }
        processor.closeAll(into: sink)
        try sink.complete()
        progress.seconds = seconds(since: started)
        onProgress(progress)
        return ReplaySummary(progress: progress, counts: processor.counts)
    }

    /// Stops reading a partition that reached its end.
    private func finish(_ partition: Int32) {
        guard open.remove(partition) != nil else { return }
        progress.offsets += ends[Int(partition)] - positions[Int(partition)]
        positions[Int(partition)] = ends[Int(partition)]
        progress.partitionsDone += 1
        // Records produced since the replay began are not its to read: stop fetching them.
        try? consumer.pause([KafkaTopicPartition(topic: topic, partition: partition)])
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// An `OutputSink` a replay can write to: told where each record comes from, checked after
/// every batch, finished at the end.
private protocol ReplaySink: OutputSink {
    func note(partition: Int32, offset: Int64)
    func afterBatch() throws(ReplayError)
    func complete() throws(ReplayError)
}

extension JSONLinesSink: ReplaySink {
    func note(partition: Int32, offset: Int64) { source = .message(partition: partition, offset: offset) }

    func afterBatch() throws(ReplayError) {
        if let error { throw .output(error) }
    }

    func complete() throws(ReplayError) {
        do throws(BatchError) { try finish() } catch { throw .output(error) }
    }
}

extension KafkaOutputSink: ReplaySink {
    func note(partition: Int32, offset: Int64) {}

    func afterBatch() throws(ReplayError) {
        serveDeliveries()
        if let failure = deliveryFailure { throw .delivery(failure) }
    }

    /// Waits until every output is acknowledged: a replay that ends 0 delivered all of them.
    func complete() throws(ReplayError) {
        flush(timeout: .seconds(60))
        if let failure = deliveryFailure { throw .delivery(failure) }
        guard inFlight == 0 else { throw .delivery("\(inFlight) outputs not acknowledged within 60 s") }
    }
}
