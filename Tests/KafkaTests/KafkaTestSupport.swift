// Helpers for the Kafka tests: client configs for an embedded broker and
// polling loops that always end at a deadline.
import EmbeddedKafka
import Kafka
import Testing

struct TestTimedOut: Error, CustomStringConvertible {
    var description: String
}

/// A consumer config for `broker`, reading from the earliest offset, with short group timeouts.
func consumerConfig(_ broker: EmbeddedKafkaBroker, group: String, extra: [String: String] = [:]) -> KafkaConfig {
    var config = KafkaConfig([
        "bootstrap.servers": broker.bootstrapServers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "200",
        "topic.metadata.refresh.interval.ms": "1000",
        "log_level": "3",
    ])
    for (name, value) in extra { config[name] = value }
    return config
}

func producerConfig(_ broker: EmbeddedKafkaBroker, extra: [String: String] = [:]) -> KafkaConfig {
    var config = KafkaConfig([
        "bootstrap.servers": broker.bootstrapServers,
        "linger.ms": "5",
        "log_level": "3",
    ])
    for (name, value) in extra { config[name] = value }
    return config
}

/// Serves `producer` until every queued message has a delivery report, or throws at the deadline.
func awaitDeliveries(_ producer: KafkaProducer, count: Int, within limit: Duration = .seconds(30)) throws -> [KafkaDeliveryReport] {
    var reports: [KafkaDeliveryReport] = []
    let deadline = ContinuousClock.now + limit
    while reports.count < count {
        if ContinuousClock.now > deadline { throw TestTimedOut(description: "\(reports.count)/\(count) delivery reports") }
        producer.poll(timeout: .milliseconds(100)) { reports.append($0) }
    }
    return reports
}

/// A message copied out of its borrowed batch.
struct ReadMessage: Hashable {
    var topic: String
    var partition: Int32
    var offset: Int64
    var key: String?
    var value: String?
    var headers: [String: String]
    var timestamp: Int64?

    init(_ message: KafkaMessage) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        key = message.key?.string
        value = message.value?.string
        headers = [:]
        for header in message.headers { headers[header.name.string] = header.value?.string ?? "" }
        timestamp = message.timestamp
    }
}

/// Polls until `count` messages were read, then returns them; throws at the deadline.
func consume(
    _ consumer: KafkaConsumer, count: Int, within limit: Duration = .seconds(30),
    each: (KafkaMessage) throws -> Void = { _ in }
) throws -> [ReadMessage] {
    var read: [ReadMessage] = []
    let deadline = ContinuousClock.now + limit
    while read.count < count {
        if ContinuousClock.now > deadline { throw TestTimedOut(description: "read \(read.count)/\(count) messages") }
        let poll = try consumer.poll(timeout: .milliseconds(100))
        for message in poll.messages {
            read.append(ReadMessage(message))
            try each(message)
        }
    }
    return read
}

/// Polls until nothing arrives for `quiet`, collecting messages; bounded by `limit`.
func drain(_ consumer: KafkaConsumer, quiet: Duration = .seconds(1), within limit: Duration = .seconds(10)) throws -> [ReadMessage] {
    var read: [ReadMessage] = []
    let deadline = ContinuousClock.now + limit
    var lastSeen = ContinuousClock.now
    while ContinuousClock.now < deadline, ContinuousClock.now - lastSeen < quiet {
        let poll = try consumer.poll(timeout: .milliseconds(100))
        if !poll.messages.isEmpty { lastSeen = ContinuousClock.now }
        for message in poll.messages { read.append(ReadMessage(message)) }
    }
    return read
}

/// Polls `consumers` in turn until `condition` holds; throws at the deadline.
func pollUntil(
    _ consumers: [KafkaConsumer], within limit: Duration = .seconds(30), _ what: String,
    _ condition: () throws -> Bool
) throws {
    let deadline = ContinuousClock.now + limit
    while try !condition() {
        if ContinuousClock.now > deadline { throw TestTimedOut(description: what) }
        for consumer in consumers { _ = try consumer.poll(timeout: .milliseconds(50)) }
    }
}
