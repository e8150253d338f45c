// The reader for states that stand behind the shared stream of their partition: an app that
// starts in the past (`input.start`), or a state restored from further back than the others on
// its partition. It has a consumer of its own, read on the loop thread between steps, so the
// other apps on the topic are neither held back nor fed records again; each state takes the
// shared stream over once it reaches where that stands.
import Kafka

/// A consumer assigned the partitions some state catches up on.
///
/// Not thread-safe: the consumer loop's.
final class CatchUpReader {
    private let config: KafkaConfig
    private let clients: any KafkaClientFactory
    private var consumer: (any KafkaConsumerClient)?
    /// The partitions read, each from where its furthest-back catching state stands.
    private(set) var partitions: [TopicPartition: Int64] = [:]

    /// - Parameter config: the service's consumer settings; no group is joined.
    init(config: KafkaConfig, clients: any KafkaClientFactory = LiveKafkaClients()) {
        self.clients = clients
        var config = config
        // A partition's end is where its states hand over when the shared stream is idle.
        config["enable.partition.eof"] = "true"
        config["enable.auto.commit"] = "false"
        // Per partition here (the shared consumer's budget spans all of its partitions).
        config["queued.max.messages.kbytes"] = "16384"
        self.config = config
    }

    var isEmpty: Bool { partitions.isEmpty }

    /// Reads these partitions, each from its offset, and no others: what was fetched ahead
    /// for a partition read before is dropped and fetched again from its new offset.
    ///
    /// Each call reads through a consumer of its own. librdkafka 2.0.2 aborts the process
    /// (`rdkafka_assignment.c`: assertion `rktp->rktp_started`) when an assignment is replaced
    /// twice before the fetchers of the first have stopped, as reads in quick succession do
    /// (several partitions resuming in one turn of the loop): a partition is stopped twice. A
    /// consumer that is closed waits for its fetchers; sets change seldom enough for that.
    func read(_ partitions: [TopicPartition: Int64]) throws(KafkaError) {
        close()
        guard !partitions.isEmpty else { return }
        let consumer = try clients.consumer(config: config, fairPartitions: false, rebalance: nil)
        try consumer.assign(partitions.map { KafkaTopicPartition($0.key, offset: $0.value) })
        self.consumer = consumer
        self.partitions = partitions
    }

    /// The next messages (valid until the next poll), and the ends of partitions reached.
    func poll(timeout: Duration) throws(KafkaError) -> KafkaConsumerPoll? {
        guard let consumer, !partitions.isEmpty else { return nil }
        return try consumer.poll(timeout: timeout, maxMessages: 4096)
    }

    func close(until deadline: ContinuousClock.Instant? = nil) {
        _ = try? consumer?.close(timeout: deadline.map(clients.remaining) ?? KafkaConsumer.closeTimeout)
        consumer = nil
        partitions = [:]
    }
}
