// End-to-end behaviour of the Kafka wrapper against an in-process embedded
// broker, over TCP through the real librdkafka client.
import EmbeddedKafka
import Foundation
import Kafka
import Synchronization
import TestThreads
import Testing

@Suite(.serialized, .dedicatedThreads, .timeLimit(.minutes(10)))
struct KafkaRoundTripTests {
    @Test func producedRecordsAreConsumedWithExactKeysValuesHeadersPartitionsAndOffsets() throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("readings", partitions: 3)
        let producer = try KafkaProducer(config: producerConfig(broker))
        let count = 30
        for i in 0..<count {
            try producer.send(
                topic: "readings", partition: Int32(i % 3), key: "dev-\(i)", value: "{\"n\":\(i)}",
                headers: [KafkaOutgoingHeader(name: "source", text: "test"), KafkaOutgoingHeader(name: "index", text: "\(i)")],
                timestamp: 1_764_288_000_000 + Int64(i), token: UInt64(i)
            )
        }
        let reports = try awaitDeliveries(producer, count: count)
        #expect(reports.allSatisfy { $0.error == nil })
        let placed = Dictionary(uniqueKeysWithValues: reports.map { (Int($0.token), ($0.partition, $0.offset)) })

        let consumer = try KafkaConsumer(config: consumerConfig(broker, group: "round-trip"))
        try consumer.subscribe(topics: ["readings"])
        var headerLookups = 0
        let read = try consume(consumer, count: count) { message in
            if let index = message.header("index"), message.header("source")?.elementsEqual(utf8: "test") == true,
                message.key?.elementsEqual(utf8: "dev-\(index.string)") == true
            {
                headerLookups += 1
            }
        }
        try consumer.close()

        #expect(read.count == count)
        #expect(headerLookups == count)
        for message in read {
            let i = Int(message.key!.dropFirst(4))!
            #expect(message.topic == "readings")
            #expect(message.value == "{\"n\":\(i)}")
            #expect(message.headers == ["source": "test", "index": "\(i)"])
            #expect(message.partition == Int32(i % 3))
            #expect(message.partition == placed[i]?.0)
            #expect(message.offset == placed[i]?.1)
            #expect(message.offset == Int64(i / 3))
            #expect(message.timestamp == 1_764_288_000_000 + Int64(i))
        }
    }

    @Test func aTombstoneReadsAsANilValue() throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("devices", partitions: 1)
        let producer = try KafkaProducer(config: producerConfig(broker))
        try producer.send(topic: "devices", key: "dev-1", value: "{\"name\":\"kitchen\"}", token: 1)
        try producer.send(topic: "devices", key: "dev-1", value: nil as String?, token: 2)
        _ = try awaitDeliveries(producer, count: 2)

        let consumer = try KafkaConsumer(config: consumerConfig(broker, group: "tombstones"))
        try consumer.subscribe(topics: ["devices"])
        let read = try consume(consumer, count: 2)
        try consumer.close()
        #expect(read.map(\.value) == ["{\"name\":\"kitchen\"}", nil])
        #expect(read.map(\.key) == ["dev-1", "dev-1"])
        #expect(read[1].headers.isEmpty)
    }

    @Test func aNewConsumerOfTheGroupResumesAfterTheCommittedOffsets() throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("readings", partitions: 1)
        let producer = try KafkaProducer(config: producerConfig(broker))
        for i in 0..<10 { try producer.send(topic: "readings", key: nil as String?, value: "r\(i)", token: UInt64(i)) }
        _ = try awaitDeliveries(producer, count: 10)

        let first = try KafkaConsumer(config: consumerConfig(broker, group: "resume"))
        try first.subscribe(topics: ["readings"])
        // Read everything, but only records r0...r4 are done.
        _ = try consume(first, count: 10) { message in
            if message.offset <= 4 { try first.store(message) }
        }
        try first.commit(nil, timeout: .seconds(10))
        let committed = try first.committed([KafkaTopicPartition(topic: "readings", partition: 0)], timeout: .seconds(10))
        #expect(committed.map(\.offset) == [5])
        try first.close()

        let second = try KafkaConsumer(config: consumerConfig(broker, group: "resume"))
        try second.subscribe(topics: ["readings"])
        let resumed = try consume(second, count: 5)
        try second.close()
        #expect(resumed.map(\.value) == ["r5", "r6", "r7", "r8", "r9"])
        #expect(resumed.map(\.offset) == [5, 6, 7, 8, 9])
    }

    @Test func explicitOffsetCommitsAreWhatTheNextConsumerSees() throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("readings", partitions: 2)
        let producer = try KafkaProducer(config: producerConfig(broker))
        for i in 0..<8 { try producer.send(topic: "readings", partition: Int32(i % 2), key: nil as String?, value: "r\(i)", token: UInt64(i)) }
        _ = try awaitDeliveries(producer, count: 8)

        let first = try KafkaConsumer(config: consumerConfig(broker, group: "explicit"))
        try first.subscribe(topics: ["readings"])
        _ = try consume(first, count: 8)
        try first.commit([KafkaTopicPartition(topic: "readings", partition: 0, offset: 3), KafkaTopicPartition(topic: "readings", partition: 1, offset: 1)], timeout: .seconds(10))
        try first.close()

        let second = try KafkaConsumer(config: consumerConfig(broker, group: "explicit"))
        try second.subscribe(topics: ["readings"])
        let resumed = try consume(second, count: 4)
        try second.close()
        // Partition 0 holds r0 r2 r4 r6, partition 1 r1 r3 r5 r7.
        #expect(Set(resumed.compactMap(\.value)) == ["r6", "r3", "r5", "r7"])
    }

    @Test(arguments: [false, true])
    func startOffsetOverridesTheCommittedOffsetOfAnAssignedPartition(fairPartitions: Bool) throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("readings", partitions: 2)
        let producer = try KafkaProducer(config: producerConfig(broker))
        for i in 0..<8 { try producer.send(topic: "readings", partition: Int32(i % 2), key: nil as String?, value: "r\(i)", token: UInt64(i)) }
        _ = try awaitDeliveries(producer, count: 8)

        // Partition 0 holds r0 r2 r4 r6; partition 1 (no answer) starts at its committed offset: none, so the earliest.
        let consumer = try KafkaConsumer(config: consumerConfig(broker, group: "start-\(fairPartitions)"), fairPartitions: fairPartitions)
        consumer.startOffset = { topic, partition in topic == "readings" && partition == 0 ? 2 : nil }
        try consumer.subscribe(topics: ["readings"])
        let read = try consume(consumer, count: 6)
        try consumer.close()
        #expect(Set(read.compactMap(\.value)) == ["r4", "r6", "r1", "r3", "r5", "r7"])
    }

    @Test(arguments: [false, true])
    func seekRereadsAndPauseHoldsBackAPartitionUntilResumed(fairPartitions: Bool) throws {
        let broker = try EmbeddedKafkaBroker()
        try broker.createTopic("readings", partitions: 1)
        let producer = try KafkaProducer(config: producerConfig(broker))
        for i in 0..<6 { try producer.send(topic: "readings", key: nil as String?, value: "r\(i)", token: UInt64(i)) }
        _ = try awaitDeliveries(producer, count: 6)

        let consumer = try KafkaConsumer(config: consumerConfig(broker, group: "seek"), fairPartitions: fairPartitions)
        let partition = KafkaTopicPartition(topic: "readings", partition: 0, offset: KafkaTopicPartition.beginningOffset)
        try consumer.assign([partition])
        #expect(try consume(consumer, count: 6).map(\.offset) == [0, 1, 2, 3, 4, 5])

        var to3 = partition
        to3.offset = 3
        try consumer.seek([to3], timeout: .seconds(10))
        #expect(try consume(consumer, count: 3).map(\.value) == ["r3", "r4", "r5"])

        try consumer.pause([partition])
        for i in 6..<9 { try producer.send(topic: "readings", key: nil as String?, value: "r\(i)", token: UInt64(i)) }
        _ = try awaitDeliveries(producer, count: 3)
        #expect(try drain(consumer, quiet: .milliseconds(500), within: .seconds(2)).isEmpty)
        try consumer.resume([partition])
        #expect(try consume(consumer, count: 3).map(\.value) == ["r6", "r7", "r8"])
        try consumer.close()
    }

    @Test func aBadPropertyIsAnErrorNamingIt() throws {
        do {
            _ = try KafkaProducer(config: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"])
            Issue.record("expected a configuration error")
        } catch {
            #expect(error.property == "no.such.property")
            #expect(error.description.contains("no.such.property"))
        }
        do {
            _ = try KafkaConsumer(config: ["bootstrap.servers": "127.0.0.1:1", "group.id": "g", "fetch.max.bytes": "lots"])
            Issue.record("expected a configuration error")
        } catch {
            #expect(error.property == "fetch.max.bytes")
        }
    }

    /// As `tidemark run` lends a batch to its shard threads: once the polling thread has named
    /// the batch's topics, looking a topic up from several threads at once only reads.
    @Test func aBatchWhoseTopicsAreNamedIsReadFromSeveralThreadsAtOnce() throws {
        let broker = try EmbeddedKafkaBroker()
        // Names too long for a string stored inline: a racy write would touch reference counts.
        let topics = ["readings-of-the-north-wing", "readings-of-the-south-wing"]
        for topic in topics { try broker.createTopic(topic, partitions: 1) }
        let producer = try KafkaProducer(config: producerConfig(broker))
        for i in 0..<200 { try producer.send(topic: topics[i % 2], partition: 0, key: "k", value: "\(i)", token: UInt64(i)) }
        #expect(try awaitDeliveries(producer, count: 200).allSatisfy { $0.error == nil })
        let consumer = try KafkaConsumer(config: consumerConfig(broker, group: "named-topics"))
        defer { try? consumer.close() }
        try consumer.assign(topics.map { KafkaTopicPartition(topic: $0, partition: 0, offset: 0) })
        let deadline = ContinuousClock.now + .seconds(30)
        while consumer.queuedMessageCount < 200 {
            if ContinuousClock.now > deadline { throw TestTimedOut(description: "prefetch: \(consumer.queuedMessageCount)") }
            usleep(10_000)
        }
        let batch = try consumer.poll(timeout: .seconds(5), maxMessages: 1000).messages
        try #require(batch.count == 200)
        batch.nameTopics()

        struct Lent: @unchecked Sendable { let batch: KafkaMessageBatch }  // read-only while lent
        let lent = Lent(batch: batch)
        let counts = Mutex<[[String: Int]]>([])
        let threads = (0..<4).map { _ in
            Thread {
                var seen: [String: Int] = [:]
                for _ in 0..<500 {
                    for message in lent.batch { seen[message.topic, default: 0] += 1 }
                }
                counts.withLock { $0.append(seen) }
            }
        }
        for thread in threads { thread.start() }
        while counts.withLock({ $0.count }) < 4 {
            if ContinuousClock.now > deadline { throw TestTimedOut(description: "reader threads") }
            usleep(10_000)
        }
        #expect(counts.withLock { $0 } == Array(repeating: [topics[0]: 50_000, topics[1]: 50_000], count: 4))
    }

    /// The protocol is known before the consumer joins a group, and never asked of librdkafka's
    /// group thread inside a rebalance (where the answer can be missing).
    @Test func theRebalanceProtocolIsTheConfiguredAssignors() throws {
        let config: KafkaConfig = ["bootstrap.servers": "127.0.0.1:1", "group.id": "g"]
        func incremental(_ strategy: String?) throws -> Bool {
            var config = config
            config["partition.assignment.strategy"] = strategy
            let consumer = try KafkaConsumer(config: config)
            defer { try? consumer.close() }
            return consumer.rebalancesIncrementally
        }
        #expect(try incremental(nil) == false)
        #expect(try incremental("range") == false)
        #expect(try incremental("cooperative-sticky") == true)
    }
}
