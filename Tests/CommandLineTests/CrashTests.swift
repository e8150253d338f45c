// `tidemark run` killed with SIGKILL while readings with realistic delays stream in, and
// several processes sharing one group while one is stopped, one killed and one added: the
// state carried in the changelogs keeps every window right. After the last start the newest
// revision of every window equals batch's, a revision emitted again is byte for byte the
// same, and every too-late reading is in the late topic.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("crashes and scale-out")
    struct Crashes {
        /// A short session, so a killed process's partitions move on within seconds.
        static let quickSession = ["--property", "session.timeout.ms=6000", "--property", "heartbeat.interval.ms=500"]

        @Test("five kill -9s at random moments: the newest revision of every window equals batch's")
        func fiveKillsKeepEveryWindowRight() throws {
            let scratch = try ScratchDirectory("kills")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            let stream = try ReadingStream(readings, broker: broker)

            var random = SplitMix(seed: 20_261_129)
            for kill in 1...5 {
                let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.quickSession)
                defer { service.tool.kill() }
                // Killed after reading between 200 and 1,200 records, wherever that falls.
                let before = 200 + Int(random.next() % 1_000)
                let sent = stream.sent
                try waitUntil("kill \(kill): \(before) records read; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(90)) {
                    let read = service.recordsIn(app: "e2e") ?? 0
                    try stream.send(whileAhead: stream.sent - sent - read)
                    return read >= before
                }
                service.tool.kill()
            }
            let last = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.quickSession)
            defer { last.tool.kill() }
            try stream.finish()
            try waitForEverythingCommitted(group: "g", broker: broker, service: last)
            #expect(try last.stop() == 0, "\(last.tool.stderr.text.suffix(2000))")

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
        }

        @Test("three processes in one group: one stopped, one killed, one added; every window still equals batch's")
        func processesComeAndGoInOneGroup() throws {
            let scratch = try ScratchDirectory("scale-out")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            let stream = try ReadingStream(readings, broker: broker)

            func start() throws -> RunningService {
                try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.quickSession)
            }
            func read(_ count: Int, by services: [RunningService]) throws {
                let from = services.map { $0.recordsIn(app: "e2e") ?? 0 }.reduce(0, +)
                let sent = stream.sent
                try waitUntil("\(count) more records read", within: .seconds(90)) {
                    let read = services.map { $0.recordsIn(app: "e2e") ?? 0 }.reduce(0, +) - from
                    try stream.send(whileAhead: stream.sent - sent - read)
                    return read >= count
                }
            }
            let first = try start(), second = try start(), third = try start()
            defer { for service in [first, second, third] { service.tool.kill() } }
            try read(2_000, by: [first, second, third])
            #expect(try first.stop() == 0, "\(first.tool.stderr.text.suffix(2000))")
            try read(1_500, by: [second, third])
            second.tool.kill()
            let fourth = try start()
            defer { fourth.tool.kill() }
            try read(1_500, by: [third, fourth])
            try stream.finish()
            try waitForEverythingCommitted(group: "g", broker: broker, service: fourth)
            for service in [third, fourth] { #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))") }

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
        }
    }
}

/// Streams readings until `service` has read a thousand, then takes the broker down, so the
/// service is consuming and producing when it goes.
func takeDownMidStream(_ broker: EmbeddedKafkaBroker, _ stream: ReadingStream, _ service: RunningService) throws {
    try waitUntil("the service to consume; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(60)) {
        try stream.send()
        return (service.recordsIn(app: "e2e") ?? 0) >= 1000
    }
    try broker.setBrokerDown(1)
}

/// Readings sent a few at a time, just ahead of what the services read, so that they consume
/// while readings arrive and a service stopped at any moment leaves readings for the next.
final class ReadingStream {
    private let readings: [String]
    private let producer: TestProducer
    private(set) var sent = 0

    init(_ readings: [String], broker: EmbeddedKafkaBroker) throws {
        self.readings = readings
        producer = try TestProducer(bootstrap: broker.bootstrapServers)
    }

    /// Sends the next 50 readings (none when all are sent), unless `ahead` readings not read
    /// yet are already out; serves the producer a little either way.
    func send(whileAhead ahead: Int = 0) throws {
        if ahead < 300 {
            let end = min(sent + 50, readings.count)
            try producer.sendReadings(readings[sent..<end], topic: "readings")
            sent = end
        }
        producer.serve(timeout: .milliseconds(50))
    }

    /// Sends the rest and waits until every reading is acknowledged.
    func finish() throws {
        while sent < readings.count { try send() }
        try producer.finish(within: .seconds(90))
    }
}

/// Waits until `group` has committed the end of every input partition: every reading is
/// processed and the state covering it is in the changelog.
///
/// - Parameter exactlyOnce: the mock cluster does not store offsets committed in transactions;
///   then the service's consumer lag (every partition at 0) says it instead.
func waitForEverythingCommitted(group: String, broker: EmbeddedKafkaBroker, service: RunningService, exactlyOnce: Bool = false) throws {
    try waitUntil("every offset committed; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(120)) {
        guard !exactlyOnce else {
            return (0..<4).allSatisfy { service.sample(#"tidemark_consumer_lag_records{topic="readings",partition="\#($0)"}"#) == "0.0" }
        }
        let (committed, ends) = try committedAndEndOffsets(group: group, topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers)
        return committed == ends
    }
}

/// A seeded generator: the tests' random moments are the same in every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension TidemarkCommandLine.Crashes {
    /// One device, one partition: six on-time minutes, a reading that closes them, then a
    /// backfill of ten readings for the first minute, the partition killed away from its
    /// first owner half way through.
    static let backfillApp = """
        app: backfill
        input: {topic: readings, device: device, time: ts}
        watermark: {out_of_order: 0s}
        series:
          - name: minute
            window: {size: 1m}
            allowed_lateness: 1h
            aggregate: {count: count(), max: max(temperature)}
            output: backfill-minute
        late: {output: backfill-late}

        """

    static func reading(minute: Int, second: Int, temperature: Int) -> String {
        #"{"device":"d1","ts":\#(1_764_288_000_000 + minute * 60_000 + second * 1_000),"temperature":\#(temperature)}"#
    }

    @Test("a partition killed away from its owner in the middle of a backfill: the new owner's revisions go on from the old one's")
    func revisionsContinueOnTheNewOwner() throws {
        let scratch = try ScratchDirectory("moved-backfill")
        defer { scratch.remove() }
        try scratch.write("apps/backfill.yaml", Self.backfillApp)
        let broker = try EmbeddedKafkaBroker(brokers: 1)
        defer { broker.stop() }
        for topic in ["readings", "backfill-minute", "backfill-late"] { try broker.createTopic(topic, partitions: 1) }
        let onTime = (0..<6).map { Self.reading(minute: $0, second: 30, temperature: 20) } + [Self.reading(minute: 10, second: 0, temperature: 20)]
        let backfill = (1...10).map { Self.reading(minute: 0, second: $0, temperature: 20 + $0) }
        let producer = try TestProducer(bootstrap: broker.bootstrapServers)
        try producer.sendReadings(onTime + backfill[..<5], topic: "readings")
        try producer.finish()

        let first = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.quickSession)
        defer { first.tool.kill() }
        try first.waitForRecordsIn(app: "backfill", 12)
        // Killed once its state covering the first half of the backfill is in the changelog.
        try waitUntil("the first half checkpointed", within: .seconds(30)) {
            try committedAndEndOffsets(group: "g", topic: "readings", partitions: 1, bootstrap: broker.bootstrapServers).committed == [12]
        }
        first.tool.kill()
        try producer.sendReadings(backfill[5...], topic: "readings")
        try producer.finish()
        let second = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.quickSession)
        defer { second.tool.kill() }
        try second.waitForRecordsIn(app: "backfill", 5)
        #expect(second.recordsIn(app: "backfill") == 5, "the second owner read only what the first had not checkpointed")
        #expect(try second.stop() == 0, "\(second.tool.stderr.text.suffix(2000))")

        let results = try readTopics(["backfill-minute"], partitions: 1, bootstrap: broker.bootstrapServers)["backfill-minute", default: []]
        let firstMinute = results.compactMap(\.valueText).filter { $0.contains(#""start":1764288000000,"#) }
        // Closed at revision 0 with its one on-time reading; each owner's batch of late readings
        // coalesced into one revision, the second owner's counting on from the first's.
        #expect(firstMinute == [
            #"{"app":"backfill","series":"minute","device":"d1","start":1764288000000,"end":1764288060000,"revision":0,"timing":"on_time","count":1,"max":20}"#,
            #"{"app":"backfill","series":"minute","device":"d1","start":1764288000000,"end":1764288060000,"revision":5,"timing":"late","count":6,"max":25}"#,
            #"{"app":"backfill","series":"minute","device":"d1","start":1764288000000,"end":1764288060000,"revision":10,"timing":"late","count":11,"max":30}"#,
        ])
    }
}
