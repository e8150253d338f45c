// The prefetch budget of a fair consumer, against the embedded broker: a backlog on many
// partitions drains with the records queued in librdkafka kept within the budget, every
// record once and in order, and a caught-up partition's record is not held back meanwhile.
import EmbeddedKafka
import Foundation
import Kafka
import TestThreads
import Testing

@Suite(.serialized, .dedicatedThreads, .timeLimit(.minutes(10)))
struct KafkaPrefetchBudgetTests {
    /// 32 partitions of 1,500 records of 100 bytes: about 20 MB as librdkafka holds them,
    /// ten times the budget.
    static let partitions: Int32 = 32
    static let perPartition = 1500
    static let valueSize = 100
    static let budgetKiB = 2048
    /// What the budget charges a queued record of these (a 1-byte key).
    static var recordCost: Int { valueSize + 1 + KafkaConsumer.prefetchRecordOverhead }

    /// The consumer: a 2 MiB budget, and fetch responses of at most 16 KiB per partition
    /// (small producer batches keep every batch under that).
    func budgetedConsumer(_ broker: EmbeddedKafkaBroker, group: String) throws -> KafkaConsumer {
        try KafkaConsumer(
            config: consumerConfig(
                broker, group: group,
                extra: ["queued.max.messages.kbytes": "\(Self.budgetKiB)", "fetch.message.max.bytes": "16384"]),
            fairPartitions: true)
    }

    func produceBacklog(_ broker: EmbeddedKafkaBroker, topic: String) throws {
        try broker.createTopic(topic, partitions: Self.partitions)
        let producer = try KafkaProducer(config: producerConfig(broker, extra: ["batch.num.messages": "50", "linger.ms": "20"]))
        var sent = 0
        for index in 0..<Self.perPartition {
            for partition in 0..<Self.partitions {
                let prefix = "p\(partition)-\(index)-"
                let value = prefix + String(repeating: "x", count: Self.valueSize - prefix.utf8.count)
                try producer.send(topic: topic, partition: partition, key: "k", value: value, token: UInt64(sent))
                sent += 1
            }
            if index % 100 == 0 { producer.poll { _ in } }
        }
        try producer.flush(timeout: .seconds(60))
        var failed = 0
        producer.poll { if $0.error != nil { failed += 1 } }
        #expect(failed == 0)
    }

    @Test func aBacklogOnManyPartitionsDrainsWithinTheBudgetEveryRecordOnceInOrder() throws {
        let broker = try EmbeddedKafkaBroker()
        try produceBacklog(broker, topic: "backlog")
        let consumer = try budgetedConsumer(broker, group: "budget")
        try consumer.subscribe(topics: ["backlog"])
        #expect(consumer.prefetchBudget == Self.budgetKiB * 1024)

        let total = Int(Self.partitions) * Self.perPartition
        var next = [Int32: Int64]()
        var read = 0
        var mostQueued = 0
        var outOfOrder = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while read < total {
            if ContinuousClock.now > deadline { throw TestTimedOut(description: "read \(read) of \(total)") }
            // Small batches: the backlog drains over many polls, each followed by a look at
            // everything librdkafka holds.
            let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 200)
            for message in poll.messages {
                if message.offset != next[message.partition, default: 0] { outOfOrder += 1 }
                next[message.partition] = message.offset + 1
                read += 1
            }
            let queued = consumer.queuedMessageCount
            mostQueued = max(mostQueued, queued)
            #expect(queued * Self.recordCost <= Self.budgetKiB * 1024, "\(queued) records queued after reading \(read)")
        }
        #expect(outOfOrder == 0)
        #expect(next.count == Int(Self.partitions))
        #expect(next.values.allSatisfy { $0 == Int64(Self.perPartition) }, "a record was lost or repeated")
        // Nothing more arrives: every record was read once.
        #expect(try drain(consumer, quiet: .milliseconds(500)).isEmpty)
        // The budget was what held the prefetch back: partitions waited their turn.
        #expect(consumer.prefetchPauses > 0)
        #expect(mostQueued > 0)
        try consumer.close()
    }

    @Test func aCaughtUpPartitionsRecordIsNotHeldBackWhileBackloggedOnesWait() throws {
        let broker = try EmbeddedKafkaBroker()
        try produceBacklog(broker, topic: "busy")
        try broker.createTopic("quiet", partitions: 1)
        let consumer = try budgetedConsumer(broker, group: "budget-quiet")
        try consumer.subscribe(topics: ["busy", "quiet"])
        // Read part of the backlog: the quiet partition has caught up (nothing to read),
        // backlogged partitions wait for room.
        var read = 0
        try pollUntil([], "partitions waiting, the quiet one caught up") {
            read += try consumer.poll(timeout: .milliseconds(100), maxMessages: 200).messages.count
            return read > 2000 && consumer.prefetchWaitingPartitions > 0
        }
        let producer = try KafkaProducer(config: producerConfig(broker))
        try producer.send(topic: "quiet", key: "k", value: "quiet", token: 0)
        try producer.flush(timeout: .seconds(10))
        // Fetched as soon as it is produced, then returned by the next poll.
        try pollUntil([], "the quiet record fetched") { consumer.queuedMessageCount(topic: "quiet", partition: 0) ?? 0 > 0 }
        let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 200)
        #expect(poll.messages.contains { $0.topic == "quiet" })
        #expect(consumer.prefetchWaitingPartitions > 0, "the backlog was drained before the quiet record came")
        try consumer.close()
    }
}
