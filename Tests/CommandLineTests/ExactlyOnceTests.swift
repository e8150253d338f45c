// `tidemark run --guarantee exactly-once` on the embedded broker: results equal batch's; a
// second process with the same transactional id fences the first, which stops; an aborted
// transaction rewinds its partitions to their changelogs and the results still equal batch's.
// (librdkafka 2.0.2's mock cluster shows aborted records to read-committed consumers and does
// not store transactional offset commits: what it cannot show is in the README.)
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("exactly once")
    struct ExactlyOnce {
        static let exactlyOnce = ["--guarantee", "exactly-once"]

        @Test("each checkpoint is a transaction, and run's final revisions equal batch's")
        func exactlyOnceEqualsBatch() throws {
            let fixture = try EndToEndFixture("exactly-once")
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.exactlyOnce)
            defer { service.tool.kill() }
            try expectCleanRunOfEndToEndApp(service, readings: readings.count, broker: broker, scratch: scratch)
        }

        @Test("a transaction the broker makes abortable is aborted, its partitions start again from their changelogs, and the results still equal batch's")
        func abortedTransactionRewinds() throws {
            let fixture = try EndToEndFixture("exactly-once-abort")
            defer { fixture.tearDown() }
            let (scratch, broker, readings) = (fixture.scratch, fixture.broker, fixture.readings)
            // MSG_SIZE_TOO_LARGE for the service's first produce request: in a transaction, a
            // record that cannot be written dooms the transaction.
            try broker.pushRequestErrors(apiKey: 0, errors: [10])

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.exactlyOnce)
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            #expect((service.sample("tidemark_aborted_transactions_total").flatMap(Double.init) ?? 0) >= 1)
            #expect(service.tool.stderr.text.contains("transaction aborted; its partitions start again from their changelogs"))
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            // The mock shows the aborted transaction's records too: what it repeats is identical.
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
        }

        @Test("a producer the broker says is fenced (as a second instance with the same transactional id makes it) stops the process non-zero")
        func fencedProducerStopsTheProcess() throws {
            let fixture = try EndToEndFixture("exactly-once-fence", count: 2_000)
            defer { fixture.tearDown() }
            let (scratch, broker) = (fixture.scratch, fixture.broker)
            // librdkafka 2.0.2's mock does not fence an older producer when a newer one takes its
            // transactional id, so the fence is injected: PRODUCER_FENCED for the first produce
            // request, as a real broker (Tansu, Kafka) answers it.
            try broker.pushRequestErrors(apiKey: 0, errors: [90])
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: Self.exactlyOnce)
            defer { service.tool.kill() }
            #expect(try service.tool.waitForExit(within: .seconds(60)) != 0)
            let log = service.tool.stderr.text
            // Met while producing or while committing, whichever comes first: either way final.
            #expect(
                log.contains("producer fenced: KafkaError PRODUCER_FENCED (90)")
                    || log.contains("transaction of shard 0 failed for good: KafkaError PRODUCER_FENCED (90)"),
                "\(log.suffix(3000))")
            #expect(!log.contains("transaction aborted; its partitions start again"), "a fence is not worth a retry")
        }
    }
}
