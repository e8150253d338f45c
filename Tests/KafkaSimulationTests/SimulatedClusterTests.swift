// The simulated cluster as the runtime sees it through the client protocols: records, read
// committed, eager rebalances, faults, and replay from a seed.
import Kafka
import KafkaSimulation
import Testing

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

extension KafkaProducerClient {
    func send(_ topic: String, partition: Int32? = nil, key: String?, value: String?, timestamp: Int64? = nil, token: UInt64) throws {
        let key = key.map(bytes)
        let value = value.map(bytes)
        try withOptional(key) { key in
            try withOptional(value) { value in
                try send(topic: topic, partition: partition, key: key, value: value, headers: [], timestamp: timestamp, token: token)
            }
        }
    }
}

private func withOptional(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> Void) throws {
    guard let bytes else { return try body(nil) }
    try bytes.withUnsafeBytes { try body($0) }
}

/// What one poll returned, in values that outlive it.
struct Polled: Equatable {
    var records: [String] = []  // "topic[partition]@offset=value"
    var rebalances: [KafkaRebalanceEvent] = []
    var ends: [String] = []  // "topic[partition]@next"
    var errors: [Int32] = []
    var commits: [Int32?] = []
}

extension KafkaConsumerClient {
    func pollValues(timeout: Duration = .milliseconds(100), maxMessages: Int = 100) throws -> Polled {
        let poll = try poll(timeout: timeout, maxMessages: maxMessages)
        var polled = Polled()
        for message in poll.messages {
            polled.records.append("\(message.topic)[\(message.partition)]@\(message.offset)=\(message.value.map { $0.string } ?? "nil")")
        }
        for event in poll.events {
            switch event {
            case .rebalance(let rebalance): polled.rebalances.append(rebalance)
            case .partitionEOF(let end): polled.ends.append("\(end.topic)[\(end.partition)]@\(end.offset)")
            case .error(let error): polled.errors.append(error.code)
            case .committed(let error): polled.commits.append(error?.code)
            }
        }
        return polled
    }
}

/// Rebalance events handed to a handler, in order.
final class RebalanceLog {
    var events: [KafkaRebalanceEvent] = []
}

func tps(_ topic: String, _ partitions: [Int32]) -> [KafkaTopicPartition] {
    partitions.map { KafkaTopicPartition(topic: topic, partition: $0) }
}

@Suite struct SimulatedClusterTests {
    @Test func recordsTravelWithKeysHeadersAndTimestamps() throws {
        let cluster = SimulatedCluster(seed: 1)
        cluster.createTopic("in", partitions: 1)
        cluster.produce(
            topic: "in", partition: 0, key: bytes("k1"), value: bytes("v1"), headers: [KafkaOutgoingHeader(name: "x", text: "hx")],
            timestamp: 1_234)
        cluster.produce(topic: "in", partition: nil, key: nil, value: nil, timestamp: nil)
        let consumer = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        try consumer.subscribe(topics: ["in"])

        let poll = try consumer.poll(timeout: .milliseconds(100), maxMessages: 10)
        #expect(poll.messages.count == 2)
        let first = poll.messages[0]
        #expect(first.topic == "in")
        #expect(first.partition == 0)
        #expect(first.offset == 0)
        #expect(first.key?.array == bytes("k1"))
        #expect(first.value?.array == bytes("v1"))
        #expect(first.header("x")?.array == bytes("hx"))
        #expect(first.header("y") == nil)
        #expect(first.timestamp == 1_234)
        let second = poll.messages[1]
        #expect(second.offset == 1)
        #expect(second.key == nil)
        #expect(second.value == nil)
        #expect(second.timestamp == 1_700_000_000_000)
        #expect(poll.events.count == 1)
        guard case .rebalance(.assigned(let assigned)) = poll.events.first else {
            Issue.record("expected an assignment, got \(poll.events)")
            return
        }
        #expect(assigned == tps("in", [0]))
        // A poll that returned something costs a millisecond.
        #expect(cluster.nowMillis == 1_700_000_000_001)
    }

    @Test func producedRecordsAreWrittenWhenAcknowledgedAndReportedByPoll() throws {
        let cluster = SimulatedCluster(seed: 7)
        cluster.ackLatency = 10...10
        cluster.createTopic("out", partitions: 4)
        let producer = cluster.producer(owner: 1, config: [:])
        try producer.send("out", key: "device-1", value: "a", token: 11)
        try producer.send("out", key: "device-1", value: "b", timestamp: 99, token: 12)
        let partition = bytes("device-1").withUnsafeBytes { KafkaPartitioner.murmur2($0, partitions: 4) }
        #expect(cluster.records(topic: "out", partition: partition, readCommitted: false).isEmpty)

        var reports: [String] = []
        let count = producer.poll(timeout: .seconds(1)) { reports.append("\($0.token)@\($0.partition):\($0.offset)") }
        #expect(count == 2)
        #expect(reports == ["11@\(partition):0", "12@\(partition):1"])
        // The poll stopped when the acknowledgements fell due.
        #expect(cluster.nowMillis == 1_700_000_000_010)
        #expect(
            cluster.records(topic: "out", partition: partition, readCommitted: true) == [
                SimulatedRecord(offset: 0, key: bytes("device-1"), value: bytes("a"), headers: [], timestamp: 1_700_000_000_000),
                SimulatedRecord(offset: 1, key: bytes("device-1"), value: bytes("b"), headers: [], timestamp: 99),
            ])
        #expect(throws: KafkaError.self) { try producer.send("nowhere", key: nil, value: "x", token: 1) }

        // Nothing to report: the poll waits out its timeout.
        #expect(producer.poll(timeout: .milliseconds(250)) { _ in } == 0)
        #expect(cluster.nowMillis == 1_700_000_000_260)
    }

    @Test func readCommittedHidesOpenAndAbortedTransactionsAndMarkersTakeOffsets() throws {
        let cluster = SimulatedCluster(seed: 3)
        cluster.createTopic("t", partitions: 1)
        let producer = cluster.producer(owner: 1, config: ["transactional.id": "tx-1"])
        try producer.initTransactions(timeout: .seconds(5))
        try producer.beginTransaction()
        try producer.send("t", partition: 0, key: nil, value: "aborted-0", token: 1)
        try producer.send("t", partition: 0, key: nil, value: "aborted-1", token: 2)
        try producer.flush(timeout: .seconds(1))
        cluster.produce(topic: "t", partition: 0, key: nil, value: bytes("plain-2"), timestamp: nil)

        let committed = cluster.consumer(owner: 2, config: ["group.id": "c", "enable.partition.eof": "true"], rebalance: nil)
        try committed.assign([KafkaTopicPartition(topic: "t", partition: 0, offset: KafkaTopicPartition.beginningOffset)])
        let uncommitted = cluster.consumer(owner: 2, config: ["group.id": "u", "isolation.level": "read_uncommitted"], rebalance: nil)
        try uncommitted.assign(tps("t", [0]))

        // The open transaction holds back everything after its first record.
        #expect(try committed.pollValues() == Polled(ends: ["t[0]@0"]))
        #expect(try uncommitted.pollValues().records == ["t[0]@0=aborted-0", "t[0]@1=aborted-1", "t[0]@2=plain-2"])

        try producer.abortTransaction(timeout: .seconds(1))
        try producer.beginTransaction()
        try producer.send("t", partition: 0, key: nil, value: "committed-4", token: 3)
        try producer.commitTransaction(timeout: .seconds(1))

        #expect(try committed.watermarks(topic: "t", partition: 0, timeout: .seconds(1)) == (0, 6))
        #expect(try committed.pollValues() == Polled(records: ["t[0]@2=plain-2", "t[0]@4=committed-4"], ends: ["t[0]@6"]))
        #expect(try uncommitted.pollValues().records == ["t[0]@4=committed-4"])
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).map(\.offset) == [2, 4])
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: false).map(\.offset) == [0, 1, 2, 4])
        #expect(committed.cachedHighWatermark(topic: "t", partition: 0) == 6)
    }

    @Test func aSecondMemberTriggersAnEagerRebalanceFromCommittedOffsets() throws {
        let cluster = SimulatedCluster(seed: 5)
        cluster.createTopic("t", partitions: 4)
        for partition in Int32(0)..<4 {
            for index in 0..<3 {
                cluster.produce(topic: "t", partition: partition, key: nil, value: bytes("\(partition)-\(index)"), timestamp: nil)
            }
        }
        var commits: [String] = []
        cluster.onCommit = { group, offsets in commits.append("\(group):\(offsets.map(\.description))") }
        let logA = RebalanceLog()
        var consumerA: SimulatedConsumer?
        consumerA = cluster.consumer(owner: 1, config: ["group.id": "g"]) { event in
            logA.events.append(event)
            // On revocation, A commits its progress on t[2].
            if case .revoked = event {
                try? consumerA?.commit([KafkaTopicPartition(topic: "t", partition: 2, offset: 2)], timeout: .seconds(1))
            }
        }
        let a = consumerA!
        let logB = RebalanceLog()
        let b = cluster.consumer(owner: 2, config: ["group.id": "g"]) { logB.events.append($0) }

        try a.subscribe(topics: ["t"])
        #expect(
            try a.pollValues(maxMessages: 4)
                == Polled(
                    records: ["t[0]@0=0-0", "t[1]@0=1-0", "t[2]@0=2-0", "t[3]@0=3-0"], rebalances: [.assigned(tps("t", [0, 1, 2, 3]))]))
        try a.commit([KafkaTopicPartition(topic: "t", partition: 0, offset: 1)], timeout: .seconds(1))

        try b.subscribe(topics: ["t"])
        // A gives everything up, and the coordinator deals the partitions out round-robin.
        #expect(
            try a.pollValues()
                == Polled(
                    records: ["t[0]@1=0-1", "t[2]@2=2-2", "t[0]@2=0-2"],
                    rebalances: [.revoked(tps("t", [0, 1, 2, 3])), .assigned(tps("t", [0, 2]))]))
        #expect(
            try b.pollValues()
                == Polled(
                    records: ["t[1]@0=1-0", "t[3]@0=3-0", "t[1]@1=1-1", "t[3]@1=3-1", "t[1]@2=1-2", "t[3]@2=3-2"],
                    rebalances: [.assigned(tps("t", [1, 3]))]))
        #expect(logA.events == [.assigned(tps("t", [0, 1, 2, 3])), .revoked(tps("t", [0, 1, 2, 3])), .assigned(tps("t", [0, 2]))])
        #expect(logB.events == [.assigned(tps("t", [1, 3]))])
        #expect(commits == ["g:[\"t[0]@1\"]", "g:[\"t[2]@2\"]"])
        #expect(cluster.committedOffset(group: "g", topic: "t", partition: 2) == 2)
        #expect(try b.committed(tps("t", [0, 1]), timeout: .seconds(1)).map(\.offset) == [1, KafkaTopicPartition.unsetOffset])

        // B leaves: A revokes again and takes all four.
        #expect(try b.close(timeout: .seconds(1)))
        #expect(try a.pollValues().rebalances == [.revoked(tps("t", [0, 2])), .assigned(tps("t", [0, 1, 2, 3]))])
        #expect(logB.events == [.assigned(tps("t", [1, 3])), .revoked(tps("t", [1, 3]))])
    }

    @Test func aCrashedMemberLosesItsPartitionsAfterItsSessionTimeout() throws {
        let cluster = SimulatedCluster(seed: 9)
        cluster.createTopic("t", partitions: 2)
        let a = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        let b = cluster.consumer(owner: 2, config: ["group.id": "g", "session.timeout.ms": "6000"], rebalance: nil)
        try a.subscribe(topics: ["t"])
        try b.subscribe(topics: ["t"])
        #expect(try a.pollValues().rebalances == [.assigned(tps("t", [0]))])
        #expect(try b.pollValues().rebalances == [.assigned(tps("t", [1]))])
        cluster.produce(topic: "t", partition: 1, key: nil, value: bytes("x"), timestamp: nil)

        let crashedAt = cluster.nowMillis
        cluster.crash(owner: 2)
        // Dead clients do nothing, and take no time.
        #expect(try b.pollValues(timeout: .seconds(1)) == Polled())
        #expect(cluster.nowMillis == crashedAt)
        #expect(try a.pollValues(timeout: .seconds(5)) == Polled())
        #expect(cluster.nowMillis == crashedAt + 5_000)
        // The poll returns as the session expires, with t[1] from its start (nothing committed).
        #expect(
            try a.pollValues(timeout: .seconds(5))
                == Polled(records: ["t[1]@0=x"], rebalances: [.revoked(tps("t", [0])), .assigned(tps("t", [0, 1]))]))
        #expect(cluster.nowMillis == crashedAt + 6_000)
    }

    @Test func anOutageMakesACommitTimeOutAfterExactlyItsTimeout() throws {
        let cluster = SimulatedCluster(seed: 11)
        cluster.createTopic("t", partitions: 1)
        var stored = 0
        cluster.onCommit = { _, _ in stored += 1 }
        let consumer = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        try consumer.subscribe(topics: ["t"])
        _ = try consumer.pollValues()
        let start = cluster.nowMillis
        cluster.outage(for: 10_000)
        #expect(cluster.isDown)

        let error = #expect(throws: KafkaError.self) {
            try consumer.commit([KafkaTopicPartition(topic: "t", partition: 0, offset: 1)], timeout: .seconds(2))
        }
        #expect(error?.code == KafkaError.timedOut)
        #expect(cluster.nowMillis == start + 2_000)
        #expect(cluster.committedOffset(group: "g", topic: "t", partition: 0) == nil)
        #expect(throws: KafkaError.self) { try consumer.watermarks(topic: "t", partition: 0, timeout: .seconds(1)) }
        #expect(cluster.nowMillis == start + 3_000)
        #expect(consumer.clusterID(timeout: .zero) == nil)

        // Polls report the transport error at most once a second.
        try consumer.commit(asynchronously: [KafkaTopicPartition(topic: "t", partition: 0, offset: 1)])
        #expect(try consumer.pollValues(timeout: .milliseconds(600)) == Polled(errors: [-195], commits: [KafkaError.timedOut]))
        #expect(try consumer.pollValues(timeout: .milliseconds(600)) == Polled())
        #expect(try consumer.pollValues(timeout: .milliseconds(600)) == Polled(errors: [-195]))

        cluster.advance(by: 10_000)
        #expect(!cluster.isDown)
        try consumer.commit([KafkaTopicPartition(topic: "t", partition: 0, offset: 1)], timeout: .seconds(2))
        #expect(cluster.committedOffset(group: "g", topic: "t", partition: 0) == 1)
        #expect(stored == 1)
        #expect(consumer.clusterID(timeout: .zero) == "sim-cluster-1")
    }

    @Test func aFencedProducerThrowsAndItsTransactionIsAborted() throws {
        let cluster = SimulatedCluster(seed: 13)
        cluster.createTopic("t", partitions: 1)
        let old = cluster.producer(owner: 1, config: ["transactional.id": "shard-0"])
        try old.initTransactions(timeout: .seconds(1))
        try old.beginTransaction()
        try old.send("t", partition: 0, key: nil, value: "zombie", token: 1)
        try old.flush(timeout: .seconds(1))

        cluster.fence(transactionalID: "shard-0")
        let error = #expect(throws: KafkaError.self) { try old.commitTransaction(timeout: .seconds(1)) }
        #expect(error?.code == -144)
        #expect(error?.isFencing == true)
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).isEmpty)
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: false).map(\.offset) == [0])

        // A new instance with the same id fences the one before it, and its own records count.
        let first = cluster.producer(owner: 2, config: ["transactional.id": "shard-1"])
        try first.initTransactions(timeout: .seconds(1))
        try first.beginTransaction()
        try first.send("t", partition: 0, key: nil, value: "lost", token: 2)
        let second = cluster.producer(owner: 3, config: ["transactional.id": "shard-1"])
        second.group = "g"
        try second.initTransactions(timeout: .seconds(1))
        var failed: [Int32?] = []
        first.poll(timeout: .zero) { failed.append($0.error?.code) }
        #expect(failed == [-144])
        #expect(throws: KafkaError.self) { try first.send("t", partition: 0, key: nil, value: "late", token: 3) }
        try second.beginTransaction()
        try second.send("t", partition: 0, key: nil, value: "kept", token: 4)
        try second.sendOffsetsToTransaction(
            [KafkaTopicPartition(topic: "in", partition: 0, offset: 42)], group: KafkaConsumerGroupMetadata(groupID: "g"),
            timeout: .seconds(1))
        try second.commitTransaction(timeout: .seconds(1))
        // Markers: the fenced transaction's abort (1), the committed one's (3).
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).map(\.offset) == [2])
        #expect(cluster.committedOffset(group: "g", topic: "in", partition: 0) == 42)
    }

    @Test func aRefusedDeliveryIsReportedAndNotWritten() throws {
        let cluster = SimulatedCluster(seed: 17)
        cluster.createTopic("t", partitions: 1)
        let producer = cluster.producer(owner: 1, config: [:])
        cluster.refuseNextDelivery(owner: 1)
        try producer.send("t", partition: 0, key: nil, value: "refused", token: 1)
        try producer.send("t", partition: 0, key: nil, value: "written", token: 2)
        try producer.flush(timeout: .seconds(1))
        var reports: [String] = []
        producer.poll(timeout: .zero) { reports.append("\($0.token):\($0.error?.code ?? 0):\($0.offset)") }
        #expect(reports == ["1:-192:\(KafkaTopicPartition.unsetOffset)", "2:0:0"])
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).map(\.value) == [bytes("written")])
    }

    @Test func aSessionTimeoutOnlyEndsACrashedTransactionAfterFiveSeconds() throws {
        let cluster = SimulatedCluster(seed: 19)
        cluster.createTopic("t", partitions: 1)
        let producer = cluster.producer(owner: 1, config: ["transactional.id": "tx"])
        try producer.initTransactions(timeout: .seconds(1))
        try producer.beginTransaction()
        try producer.send("t", partition: 0, key: nil, value: "open", token: 1)
        try producer.flush(timeout: .seconds(1))
        cluster.produce(topic: "t", partition: 0, key: nil, value: bytes("after"), timestamp: nil)
        cluster.crash(owner: 1)
        let reader = cluster.consumer(owner: 2, config: ["group.id": "r"], rebalance: nil)
        try reader.assign(tps("t", [0]))
        #expect(try reader.pollValues(timeout: .seconds(4)) == Polled())
        #expect(try reader.pollValues(timeout: .seconds(4)) == Polled(records: ["t[0]@1=after"]))
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: false).map(\.offset) == [0, 1])
        #expect(try reader.watermarks(topic: "t", partition: 0, timeout: .zero).high == 3)
    }

    @Test func theSameSeedReplaysTheSameRun() throws {
        func run(seed: UInt64) throws -> [String] {
            let cluster = SimulatedCluster(seed: seed)
            cluster.createTopic("t", partitions: 3)
            var trace: [String] = []
            let producer = cluster.producer(owner: 1, config: [:])
            for index in 0..<30 {
                try producer.send("t", key: "key-\(index % 7)", value: "v\(index)", token: UInt64(index))
                if index % 4 == 0 { cluster.advance(by: Int64(cluster.random.int(in: 0...15))) }
                producer.poll(timeout: .zero) { trace.append("\($0.token)@\($0.partition):\($0.offset)@\(cluster.nowMillis)") }
            }
            cluster.crash(owner: 1)
            let consumer = cluster.consumer(owner: 2, config: ["group.id": "g"], rebalance: nil)
            try consumer.subscribe(topics: ["t"])
            for _ in 0..<3 {
                let polled = try consumer.pollValues(maxMessages: 7)
                trace += polled.records
                trace.append("\(cluster.nowMillis)")
            }
            return trace
        }
        let first = try run(seed: 42)
        #expect(try run(seed: 42) == first)
        #expect(try run(seed: 43) != first)
    }

    @Test func aReplacedClusterIsEmptyAndHasANewID() throws {
        let cluster = SimulatedCluster(seed: 23)
        cluster.createTopic("t", partitions: 2)
        cluster.produce(topic: "t", partition: 1, key: nil, value: bytes("old"), timestamp: nil)
        let consumer = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        try consumer.subscribe(topics: ["t"])
        #expect(try consumer.pollValues().records == ["t[1]@0=old"])
        try consumer.commit([KafkaTopicPartition(topic: "t", partition: 1, offset: 1)], timeout: .seconds(1))
        cluster.replaceCluster()
        #expect(cluster.clusterID == "sim-cluster-2")
        #expect(cluster.partitionCount(of: "t") == 2)
        #expect(cluster.committedOffset(group: "g", topic: "t", partition: 1) == nil)
        // The new coordinator does not know the member: its partitions are lost, not revoked,
        // and its commits fail until it has rejoined.
        #expect(throws: KafkaError.self) {
            try consumer.commit([KafkaTopicPartition(topic: "t", partition: 1, offset: 1)], timeout: .seconds(1))
        }
        #expect(try consumer.pollValues().rebalances == [.lost(tps("t", [0, 1])), .assigned(tps("t", [0, 1]))])
        #expect(cluster.committedOffset(group: "g", topic: "t", partition: 1) == nil)
        cluster.produce(topic: "t", partition: 1, key: nil, value: bytes("new"), timestamp: nil)
        #expect(try consumer.pollValues().records == ["t[1]@0=new"])
    }
}

@Suite struct SimulatedFaultTests {
    @Test func aCrashWritesOrLosesRecordsInFlightKeepingEachPartitionsOrder() throws {
        let cluster = SimulatedCluster(seed: 31)
        cluster.ackLatency = 50...50
        cluster.createTopic("t", partitions: 2)
        let producer = cluster.producer(owner: 1, config: [:])
        var sent: [[String]] = [[], []]
        for index in 0..<40 {
            let partition = Int32(index % 2)
            try producer.send("t", partition: partition, key: nil, value: "\(index)", token: UInt64(index))
            sent[Int(partition)].append("\(index)")
        }
        cluster.crash(owner: 1)
        var written: [Int] = []
        for partition in Int32(0)..<2 {
            let values = cluster.records(topic: "t", partition: partition, readCommitted: true).map {
                String(decoding: $0.value!, as: UTF8.self)
            }
            #expect(values == Array(sent[Int(partition)].prefix(values.count)))
            written.append(values.count)
        }
        // Seed 31: t[0] keeps its first two records and loses the rest; t[1] loses its first and so all.
        #expect(written == [2, 0])
        // The dead producer does nothing.
        try producer.send("t", partition: 0, key: nil, value: "after", token: 99)
        #expect(producer.poll(timeout: .seconds(1)) { _ in } == 0)
        cluster.advance(by: 1_000)
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).count == written[0])
    }

    @Test func partitionCountWaitsForTheBrokerAndTheTopic() throws {
        let cluster = SimulatedCluster(seed: 61)
        cluster.createTopic("t", partitions: 3)
        let producer = cluster.producer(owner: 1, config: [:])
        let start = cluster.nowMillis
        #expect(try producer.partitionCount(of: "t", timeout: .seconds(1)) == 3)
        #expect(try producer.partitionCount(of: "missing", timeout: .seconds(1)) == nil)
        #expect(cluster.nowMillis == start + 1_000)
        cluster.outage(for: 2_000)
        #expect(try producer.partitionCount(of: "t", timeout: .seconds(1)) == nil)
        #expect(try producer.partitionCount(of: "t", timeout: .seconds(5)) == 3)
        #expect(cluster.nowMillis == start + 3_000)
    }

    @Test func aRecordNotAcknowledgedWithinTheMessageTimeoutFails() throws {
        let cluster = SimulatedCluster(seed: 53)
        cluster.createTopic("t", partitions: 1)
        let producer = cluster.producer(owner: 1, config: ["message.timeout.ms": "30000"])
        let start = cluster.nowMillis
        cluster.outage(for: 60_000)
        try producer.send("t", partition: 0, key: nil, value: "late", token: 1)
        var reports: [String] = []
        producer.poll(timeout: .seconds(120)) { reports.append("\($0.token):\($0.error?.code ?? 0)") }
        #expect(reports == ["1:-192"])
        #expect(cluster.nowMillis == start + 30_000)
        #expect(producer.takeErrors().map(\.code) == [-195])
        try producer.flush(timeout: .zero)
        cluster.advance(by: 60_000)
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: false).isEmpty)
    }

    @Test func aRestartedProcessReusesItsOwnerIDAndTakesOverItsTransactionalID() throws {
        let cluster = SimulatedCluster(seed: 59)
        cluster.createTopic("t", partitions: 1)
        let before = cluster.producer(owner: 1, config: ["transactional.id": "tx"])
        try before.initTransactions(timeout: .seconds(1))
        try before.beginTransaction()
        try before.send("t", partition: 0, key: nil, value: "open", token: 1)
        try before.flush(timeout: .seconds(1))
        cluster.crash(owner: 1)
        #expect(before.isCrashed)
        #expect(cluster.nextDueMillis == cluster.nowMillis + 5_000)

        let after = cluster.producer(owner: 1, config: ["transactional.id": "tx"])
        #expect(!after.isCrashed)
        // Taking over the id aborts the crashed instance's transaction at once.
        try after.initTransactions(timeout: .seconds(1))
        try after.beginTransaction()
        try after.send("t", partition: 0, key: nil, value: "new", token: 2)
        try after.commitTransaction(timeout: .seconds(1))
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).map(\.offset) == [2])
        #expect(
            try cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil).watermarks(topic: "t", partition: 0, timeout: .zero)
                == (0, 4))
    }

    @Test func aTransactionCommittedDuringAnOutageTimesOutRetriablyThenCommits() throws {
        let cluster = SimulatedCluster(seed: 37)
        cluster.createTopic("t", partitions: 1)
        let producer = cluster.producer(owner: 1, config: ["transactional.id": "tx"])
        try producer.initTransactions(timeout: .seconds(1))
        try producer.beginTransaction()
        try producer.send("t", partition: 0, key: nil, value: "v", token: 1)
        let start = cluster.nowMillis
        cluster.outage(for: 5_000)
        let error = #expect(throws: KafkaError.self) { try producer.commitTransaction(timeout: .seconds(2)) }
        #expect(error?.code == KafkaError.timedOut)
        #expect(error?.isRetriable == true)
        #expect(cluster.nowMillis == start + 2_000)
        #expect(producer.takeErrors().map(\.code) == [-195])
        try producer.commitTransaction(timeout: .seconds(10))
        #expect(cluster.nowMillis == start + 5_000)
        #expect(cluster.records(topic: "t", partition: 0, readCommitted: true).map(\.offset) == [0])
    }

    @Test func pauseSeekAndOffsetsForTimesMoveTheReadPosition() throws {
        let cluster = SimulatedCluster(seed: 41)
        cluster.createTopic("t", partitions: 1)
        for index in 0..<5 { cluster.produce(topic: "t", partition: 0, key: nil, value: bytes("\(index)"), timestamp: Int64(100 * index)) }
        let consumer = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        try consumer.assign([KafkaTopicPartition(topic: "t", partition: 0, offset: 2)])
        #expect(try consumer.pollValues(maxMessages: 1).records == ["t[0]@2=2"])
        try consumer.pause(tps("t", [0]))
        let paused = cluster.nowMillis
        #expect(try consumer.pollValues(timeout: .milliseconds(100)) == Polled())
        #expect(cluster.nowMillis == paused + 100)
        try consumer.resume(tps("t", [0]))
        try consumer.seek(
            [KafkaTopicPartition(topic: "t", partition: 0, offset: KafkaTopicPartition.beginningOffset)], timeout: .seconds(1))
        #expect(try consumer.pollValues().records == ["t[0]@0=0", "t[0]@1=1", "t[0]@2=2", "t[0]@3=3", "t[0]@4=4"])
        let found = try consumer.offsetsForTimes(
            [KafkaTopicPartition(topic: "t", partition: 0, offset: 150), KafkaTopicPartition(topic: "t", partition: 0, offset: 401)],
            timeout: .seconds(1))
        #expect(found.map(\.offset) == [2, KafkaTopicPartition.endOffset])
        #expect(throws: KafkaError.self) { try consumer.seek(tps("other", [0]), timeout: .seconds(1)) }
    }

    @Test func aPartitionPausedWhenRevokedIsStillPausedWhenAssignedAgain() throws {
        let cluster = SimulatedCluster(seed: 47)
        cluster.createTopic("t", partitions: 2)
        let a = cluster.consumer(owner: 1, config: ["group.id": "g"], rebalance: nil)
        let b = cluster.consumer(owner: 2, config: ["group.id": "g"], rebalance: nil)
        try a.subscribe(topics: ["t"])
        #expect(try a.pollValues().rebalances == [.assigned(tps("t", [0, 1]))])
        try a.pause(tps("t", [0, 1]))
        for partition in Int32(0)..<2 {
            cluster.produce(topic: "t", partition: partition, key: nil, value: bytes("p\(partition)"), timestamp: nil)
        }
        try b.subscribe(topics: ["t"])
        // As librdkafka 2.0.2 does: the pause outlives the revocation.
        #expect(try a.pollValues() == Polled(rebalances: [.revoked(tps("t", [0, 1])), .assigned(tps("t", [0]))]))
        #expect(try b.pollValues() == Polled(records: ["t[1]@0=p1"], rebalances: [.assigned(tps("t", [1]))]))
        try a.resume(tps("t", [0]))
        #expect(try a.pollValues().records == ["t[0]@0=p0"])
    }

    @Test func aTopicCreatedLaterIsAssignedToItsSubscribers() throws {
        let cluster = SimulatedCluster(seed: 43)
        let consumer = cluster.consumer(owner: 1, config: ["group.id": "g", "auto.offset.reset": "latest"], rebalance: nil)
        try consumer.subscribe(topics: ["late"])
        #expect(try consumer.pollValues().rebalances == [.assigned([])])
        cluster.createTopic("late", partitions: 2)
        cluster.produce(topic: "late", partition: 0, key: nil, value: bytes("before"), timestamp: nil)
        #expect(try consumer.pollValues() == Polled(rebalances: [.assigned(tps("late", [0, 1]))]))
        cluster.produce(topic: "late", partition: 0, key: nil, value: bytes("after"), timestamp: nil)
        #expect(try consumer.pollValues().records == ["late[0]@1=after"])
    }
}

/// Random steps of three processes over one cluster, with every fault: nothing traps, what
/// read committed shows was committed, and the seed replays the run.
@Suite struct SimulatedChaosTests {
    static func run(seed: UInt64) throws -> [String] {
        let cluster = SimulatedCluster(seed: seed)
        cluster.createTopic("in", partitions: 4)
        cluster.createTopic("out", partitions: 2)
        var trace: [String] = []
        var consumers: [SimulatedConsumer] = []
        var producers: [SimulatedProducer] = []
        var token: UInt64 = 0
        func start(_ process: Int) throws {
            let consumer = cluster.consumer(owner: process, config: ["group.id": "app", "enable.partition.eof": "true"], rebalance: nil)
            try consumer.subscribe(topics: ["in"])
            let producer = cluster.producer(owner: process, config: ["transactional.id": "app-\(process)"])
            try producer.initTransactions(timeout: .seconds(5))
            try producer.beginTransaction()
            consumers.append(consumer)
            producers.append(producer)
        }
        for process in 0..<3 { try start(process) }
        for step in 0..<1_500 {
            let process = cluster.random.int(in: 0...2)
            let consumer = consumers[process]
            let producer = producers[process]
            switch cluster.random.int(in: 0...19) {
            case 0:
                cluster.produce(topic: "in", partition: nil, key: bytes("k\(step % 13)"), value: bytes("s\(step)"), timestamp: nil)
            case 1 where cluster.random.chance(0.05):
                cluster.crash(owner: process)
                consumers[process] = cluster.consumer(owner: process, config: ["group.id": "app"], rebalance: nil)
                try consumers[process].subscribe(topics: ["in"])
                producers[process] = cluster.producer(owner: process, config: ["transactional.id": "app-\(process)"])
                do {
                    try producers[process].initTransactions(timeout: .seconds(5))
                    try producers[process].beginTransaction()
                } catch { trace.append("init \(error.code)") }
            case 2 where cluster.random.chance(0.1):
                cluster.outage(for: Int64(cluster.random.int(in: 100...8_000)))
            case 3 where cluster.random.chance(0.1):
                cluster.refuseNextDelivery(owner: nil)
            case 4, 5, 6:
                do {
                    try producer.commitTransaction(timeout: .seconds(2))
                    try producer.beginTransaction()
                    trace.append("commit \(process) @\(cluster.nowMillis)")
                } catch  where error.isRetriable {
                    trace.append("retry \(process)")
                } catch  where error.isFencing {
                    trace.append("fenced \(process)")
                } catch {
                    trace.append("abort \(process) \(error.code)")
                    try? producer.abortTransaction(timeout: .seconds(2))
                    try? producer.beginTransaction()
                }
            default:
                let poll = try consumer.poll(timeout: .milliseconds(50), maxMessages: 5)
                for message in poll.messages {
                    token += 1
                    let value = message.value!.array
                    do {
                        try value.withUnsafeBytes { value in
                            try producer.send(
                                topic: "out", partition: nil, key: nil, value: value, headers: [], timestamp: nil, token: token)
                        }
                    } catch { trace.append("send \(error)") }
                    trace.append("\(process) read \(message.partition)@\(message.offset)")
                }
                for event in poll.events { trace.append("\(process) \(event)") }
                producer.poll(timeout: .zero) { trace.append("report \($0.token) \($0.offset) \($0.error?.code ?? 0)") }
            }
            // Eager rebalancing: no partition is ever read by two live members at once.
            let held = consumers.filter { !$0.isCrashed }.flatMap { $0.assignment.map(\.topicPartition) }
            #expect(Set(held).count == held.count, "step \(step): \(held)")
        }
        for partition in Int32(0)..<2 {
            let committed = cluster.records(topic: "out", partition: partition, readCommitted: true)
            trace.append(
                "out[\(partition)] \(committed.count) of \(cluster.records(topic: "out", partition: partition, readCommitted: false).count)"
            )
        }
        trace.append("at \(cluster.nowMillis)")
        return trace
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func randomStepsReplayFromTheirSeed(seed: UInt64) throws {
        let first = try Self.run(seed: seed)
        #expect(try Self.run(seed: seed) == first)
        #expect(first.contains { $0.hasPrefix("commit") })
    }
}
