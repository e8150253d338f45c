// Changelogs `tidemark run` cannot use: missing on a broker without an admin API, the wrong
// partition count, a record of a format it does not know. Each stops the service at once with
// a message that says what is wrong and what to do, never a silent run without state.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("changelog errors")
    struct ChangelogErrors {
        @Test("a missing changelog on the embedded broker (no admin API) stops the run, naming the topic and how to create it")
        func missingChangelogIsNamed() throws {
            let scratch = try ScratchDirectory("changelog-missing")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            let service = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            #expect(try service.tool.waitForExit(within: .seconds(60)) != 0)
            let log = service.tool.stderr.text
            #expect(
                log.contains(
                    "app e2e: changelog topic g-e2e-changelog does not exist and cannot be created"),
                "\(log.suffix(2000))")
            #expect(log.contains("create it with 4 partitions and cleanup.policy=compact"), "\(log.suffix(2000))")
            #expect(log.contains("tidemark dev-broker --apps DIR --group GROUP"), "\(log.suffix(2000))")
        }

        @Test("a changelog with another partition count than its input topic is refused")
        func wrongPartitionCountIsRefused() throws {
            let scratch = try ScratchDirectory("changelog-partitions")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            try broker.createTopic("g-e2e-changelog", partitions: 2)
            let service = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            #expect(try service.tool.waitForExit(within: .seconds(60)) != 0)
            let log = service.tool.stderr.text
            #expect(
                log.contains("app e2e: changelog topic g-e2e-changelog has 2 partitions but its input topic readings has 4"),
                "\(log.suffix(2000))")
        }

        @Test("a changelog record of an unknown format version stops the restore with its topic, partition and version")
        func unknownFormatVersionIsRefused() throws {
            let scratch = try ScratchDirectory("changelog-version")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            try broker.createTopic("g-e2e-changelog", partitions: 4)
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            // Format version 9, written by some future tidemark.
            try producer.send(
                topic: "g-e2e-changelog", key: [0x01] + Array("dev-000001".utf8), value: [9] + Array(repeating: 0, count: 12),
                partition: 2)
            try producer.finish()
            let service = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            #expect(try service.tool.waitForExit(within: .seconds(60)) != 0)
            let log = service.tool.stderr.text
            #expect(
                log.contains(
                    "cannot restore readings/2: changelog g-e2e-changelog[2] of app e2e: at offset 0: format version 9, but this tidemark reads version 1 (written by a newer tidemark?)"),
                "\(log.suffix(2000))")
        }
    }
}
