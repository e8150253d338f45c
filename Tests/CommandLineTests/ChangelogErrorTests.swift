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

        @Test("a changelog that covers offsets its input partition does not hold (the input topic was made anew) stops the restore, naming both")
        func changelogAheadOfItsInputIsRefused() throws {
            // The state of a run over 2,000 readings, checkpointed to the first broker's changelog.
            let first = try EndToEndFixture("changelog-ahead", count: 2_000)
            defer { first.tearDown() }
            let service = try RunningService(broker: first.broker, apps: first.scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try waitForEverythingCommitted(group: "g", broker: first.broker, service: service)
            #expect(try service.tool.stop() == 0)
            let changelog = try readTopics(["g-e2e-changelog"], partitions: 4, bootstrap: first.broker.bootstrapServers)["g-e2e-changelog"]!
            #expect(changelog.contains { $0.partition == 2 && $0.value != nil })

            // A second broker whose input topic is new and empty, with that changelog copied over.
            let second = try endToEndBroker(extraTopics: ["g-e2e-changelog"])
            defer { second.stop() }
            let producer = try TestProducer(bootstrap: second.bootstrapServers)
            for record in changelog where record.value != nil {
                try producer.send(topic: record.topic, key: record.key, value: record.value, partition: record.partition)
            }
            try producer.finish()
            let restarted = try RunningService(brokers: second.bootstrapServers, apps: first.scratch.path("apps"), group: "g")
            defer { restarted.tool.kill() }
            #expect(try restarted.tool.waitForExit(within: .seconds(60)) != 0)
            let log = restarted.tool.stderr.text
            #expect(
                log.contains(
                    "changelog g-e2e-changelog[2] of app e2e: it covers readings/2 up to offset "),
                "\(log.suffix(2000))")
            #expect(
                log.contains(
                    ", but the partition ends at offset 0: the input topic was recreated or truncated after the state was written; delete the changelog topic to start the app afresh"),
                "\(log.suffix(2000))")
        }

        @Test("a changelog write the broker refuses for good ends the run non-zero, commits nothing past it, and a restart's results equal batch's")
        func refusedChangelogWriteStopsTheRun() throws {
            let scratch = try ScratchDirectory("changelog-refused")
            defer { scratch.remove() }
            // One window a day: nothing closes during the run, so the first produce request is
            // a checkpoint's changelog write.
            try scratch.write("apps/daily.yaml", """
                app: daily
                input: {topic: readings, format: json, device: device, time: ts}
                watermark: {per: device, out_of_order: 10s}
                series:
                  - name: day
                    window: {size: 1d}
                    allowed_lateness: 1d
                    aggregate: {mean: mean(temperature), count: count()}
                    output: daily
                late: {output: daily-late}

                """)
            let readings = try simulateReadings(into: scratch, count: 2_000)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings", "daily", "daily-late", "g-daily-changelog"] { try broker.createTopic(topic, partitions: 4) }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            try broker.pushRequestErrors(apiKey: 0, errors: [topicAuthorizationFailed])
            let failing = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { failing.tool.kill() }
            #expect(try failing.tool.waitForExit(within: .seconds(120)) != 0)
            let log = failing.tool.stderr.text
            #expect(log.contains("output cannot be delivered; stopping after committing what is safe"), "\(log.suffix(3000))")
            let refused = try #require(log.firstMatch(of: #/delivery to g-daily-changelog/(\d) failed: [^"]*TOPIC_AUTHORIZATION_FAILED/#), "\(log.suffix(3000))")
            // The partition whose checkpoint was refused has no offset committed past its start (a
            // checkpoint taken before its first record was read may commit 0); the others may
            // have theirs, each covered by its changelog.
            let (committed, _) = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers)
            #expect(committed[Int(refused.1)!] <= 0, "committed \(committed)")

            // The broker takes writes again: the restart restores what was checkpointed, reads
            // the rest again, and a reading of each device the next day closes its day.
            let again = try RunningService(brokers: broker.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            let devices = Set(readings.compactMap(deviceField)).sorted()
            let nextDay = devices.map { #"{"device":"\#($0)","ts":1795914000000,"temperature":20.0}"# }
            try producer.sendReadings(nextDay, topic: "readings")
            try producer.finish()
            try waitUntil("a day closed per device; stderr: \(again.tool.stderr.text.suffix(2000))", within: .seconds(90)) {
                try readTopics(["daily"], partitions: 4, bootstrap: broker.bootstrapServers)["daily", default: []].count >= devices.count
            }
            #expect(try again.stop() == 0, "\(again.tool.stderr.text.suffix(2000))")
            try scratch.write("all.jsonl", (readings + nextDay).joined(separator: "\n") + "\n")
            let topics = try readTopics(["daily", "daily-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            #expect(topics["daily", default: []].count == devices.count)
            try expectRunOutputs(
                topics, outputTopics: ["daily"], lateTopic: "daily-late", matchBatchOf: "apps/daily.yaml", over: "all.jsonl",
                in: scratch, exercisesLateness: false)
        }
    }
}

/// TOPIC_AUTHORIZATION_FAILED: a broker error that fails a produce request for good.
private let topicAuthorizationFailed: Int32 = 29
