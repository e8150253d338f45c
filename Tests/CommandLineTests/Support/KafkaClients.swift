// The test's own Kafka clients against an embedded broker: produce JSON lines keyed by
// device, and read whole topics back from the beginning to their end.
import Foundation
import Kafka

/// Client settings that notice an embedded broker's outage and recovery quickly.
func clientConfig(_ bootstrap: String, _ extra: [String: String] = [:]) -> KafkaConfig {
    var config = KafkaConfig([
        "bootstrap.servers": bootstrap,
        "log_level": "3",
        "topic.metadata.refresh.interval.ms": "1000",
        "reconnect.backoff.max.ms": "500",
    ])
    for (name, value) in extra { config[name] = value }
    return config
}

/// A message copied out of its borrowed batch.
struct ReadMessage: Hashable, CustomStringConvertible {
    var topic: String
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [String: String]

    init(_ message: KafkaMessage) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        key = message.key?.array
        value = message.value?.array
        headers = [:]
        for header in message.headers { headers[header.name.string] = header.value?.string ?? "" }
    }

    var keyText: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    var valueText: String? { value.map { String(decoding: $0, as: UTF8.self) } }
    var description: String { "\(topic)[\(partition)]@\(offset) key=\(keyText ?? "nil") value=\(valueText ?? "nil") \(headers)" }
}

/// Sends messages and checks every one is acknowledged.
final class TestProducer {
    let producer: KafkaProducer
    private var sent = 0
    private(set) var delivered = 0
    private(set) var failures: [String] = []

    init(bootstrap: String, _ extra: [String: String] = [:]) throws {
        producer = try KafkaProducer(config: clientConfig(bootstrap, ["linger.ms": "5"].merging(extra) { _, new in new }))
    }

    func send(topic: String, key: [UInt8]?, value: [UInt8]?, partition: Int32? = nil, headers: [String: String] = [:]) throws {
        try producer.send(
            topic: topic, partition: partition, key: key, value: value,
            headers: headers.map { KafkaOutgoingHeader(name: $0.key, text: $0.value) }, token: UInt64(sent))
        sent += 1
        serve()
    }

    func send(topic: String, key: String?, value: String?, partition: Int32? = nil) throws {
        try send(topic: topic, key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }, partition: partition)
    }

    /// Each line of JSON readings, keyed by its `device` field, in order.
    func sendReadings(_ lines: some Sequence<String>, topic: String) throws {
        for line in lines { try send(topic: topic, key: deviceField(of: line), value: line) }
    }

    /// Serves delivery reports that are ready.
    func serve(timeout: Duration = .zero) {
        producer.poll(timeout: timeout) { report in
            if let error = report.error { failures.append("\(report.token): \(error)") } else { delivered += 1 }
        }
    }

    /// Waits until every message sent has a delivery report; throws if any failed.
    func finish(within limit: Duration = .seconds(60)) throws {
        try waitUntil("\(delivered + failures.count)/\(sent) delivery reports", within: limit) {
            serve(timeout: .milliseconds(50))
            return delivered + failures.count == sent
        }
        if !failures.isEmpty { throw TestFailure(description: "\(failures.count) messages not delivered: \(failures.prefix(3))") }
    }
}

/// The `device` field of a simulated reading line.
func deviceField(of line: String) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
    return object["device"] as? String
}

/// Every message of `topics` (each with `partitions` partitions) from the beginning up to
/// the end the broker reports now, partition order kept.
func readTopics(_ topics: [String], partitions: Int32, bootstrap: String, within limit: Duration = .seconds(30)) throws
    -> [String: [ReadMessage]]
{
    let consumer = try KafkaConsumer(
        config: clientConfig(bootstrap, ["group.id": "reader-\(UUID().uuidString)", "enable.auto.commit": "false"]))
    defer { try? consumer.close() }
    var ends: [KafkaTopicPartition: Int64] = [:]
    var assignment: [KafkaTopicPartition] = []
    for topic in topics {
        for partition in 0..<partitions {
            let (_, high) = try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(10))
            ends[KafkaTopicPartition(topic: topic, partition: partition, offset: 0)] = high
            assignment.append(KafkaTopicPartition(topic: topic, partition: partition, offset: KafkaTopicPartition.beginningOffset))
        }
    }
    try consumer.assign(assignment)
    var read: [String: [ReadMessage]] = Dictionary(uniqueKeysWithValues: topics.map { ($0, []) })
    var next: [KafkaTopicPartition: Int64] = [:]
    func done() -> Bool { ends.allSatisfy { $0.value == 0 || next[$0.key, default: 0] >= $0.value } }
    let deadline = ContinuousClock.now + limit
    while !done() {
        if ContinuousClock.now > deadline {
            throw TestFailure(description: "reading \(topics): positions \(next), ends \(ends)")
        }
        let poll = try consumer.poll(timeout: .milliseconds(100))
        for message in poll.messages {
            let copy = ReadMessage(message)
            read[copy.topic, default: []].append(copy)
            next[KafkaTopicPartition(topic: copy.topic, partition: copy.partition, offset: 0)] = copy.offset + 1
        }
    }
    return read
}

/// Per partition of `topic`, the offset `group` committed and the partition's end.
func committedAndEndOffsets(group: String, topic: String, partitions: Int32, bootstrap: String) throws
    -> (committed: [Int64], ends: [Int64])
{
    let consumer = try KafkaConsumer(config: clientConfig(bootstrap, ["group.id": group, "enable.auto.commit": "false"]))
    defer { try? consumer.close() }
    let committed = try consumer.committed(
        (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: $0) }, timeout: .seconds(10))
    let ends = try (0..<partitions).map { partition in
        try consumer.watermarks(topic: topic, partition: partition, timeout: .seconds(10)).high
    }
    return (committed.sorted { $0.partition < $1.partition }.map(\.offset), ends)
}
