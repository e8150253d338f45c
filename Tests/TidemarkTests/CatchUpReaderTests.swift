// The catch-up reader is read from again and again, from other offsets, as states join and
// leave it (several partitions can resume in one turn of the loop): each read of it must hold,
// however quickly the next one comes.
import EmbeddedKafka
import Kafka
import TestThreads
import Testing
@testable import Tidemark

@Suite(.dedicatedThreads, .timeLimit(.minutes(2)))
struct CatchUpReaderTests {
    @Test func readingAgainAndAgainAtOnceReadsFromTheLastOffsets() throws {
        let broker = try EmbeddedKafkaBroker()
        defer { broker.stop() }
        try broker.createTopic("readings", partitions: 4)
        let producer = try KafkaProducer(config: ["bootstrap.servers": broker.bootstrapServers, "log_level": "3"])
        for index in 0..<400 {
            try producer.send(topic: "readings", partition: Int32(index % 4), key: "k", value: "\(index / 4)", token: UInt64(index))
        }
        try producer.flush(timeout: .seconds(30))

        let reader = CatchUpReader(config: ["bootstrap.servers": broker.bootstrapServers, "group.id": "g", "log_level": "3"])
        defer { reader.close() }
        let partitions = (0..<4).map { TopicPartition(topic: "readings", partition: Int32($0)) }
        // librdkafka 2.0.2 aborted here (rdkafka_assignment.c, assert rktp_started): an
        // assignment replaced again before the fetchers of the one it replaced had stopped.
        for round in 0..<20 {
            for offset in [0, 50, Int64(round)] {
                try reader.read(Dictionary(uniqueKeysWithValues: partitions.map { ($0, offset) }))
            }
            _ = try reader.poll(timeout: .milliseconds(5))
        }
        try reader.read([partitions[2]: 90])
        var values: [String] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while values.count < 10, ContinuousClock.now < deadline {
            guard let poll = try reader.poll(timeout: .milliseconds(100)) else { continue }
            for message in poll.messages {
                #expect(message.partition == 2)
                values.append(message.value?.string ?? "")
            }
        }
        #expect(values == (90..<100).map(String.init))
    }
}
