// An output the broker refuses for good: `tidemark run` says why, exits non-zero, and commits
// no input offset past a record whose output was not delivered; started again, it delivers
// every output (nothing lost, nothing silently stuck).
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("delivery failure")
    struct DeliveryFailure {
        /// Every reading is echoed to `echo` by a record trigger, so each input record has
        /// exactly one output that tells whether it was delivered.
        let echoApp = """
            app: echo
            input: {topic: readings, device: device, time: ts}
            triggers:
              - {name: every_reading, when: temperature > -1000, output: echo}
            late: {output: echo-late}

            """

        @Test("a produce refused for good ends the run non-zero, commits nothing past it, and a restart delivers everything")
        func refusedOutputStopsTheRunLoudly() throws {
            let scratch = try ScratchDirectory("delivery-failure")
            defer { scratch.remove() }
            try scratch.write("apps/echo.yaml", echoApp)
            let readings = try simulateReadings(into: scratch, count: 2_000)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings", "echo", "echo-late"] { try broker.createTopic(topic, partitions: 4) }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            // The broker refuses the next produce request as if the service lacked write rights:
            // a permanent error for every message in it (librdkafka then refuses the topic
            // for the rest of the process's life, so one is enough).
            try broker.pushRequestErrors(apiKey: 0, errors: [topicAuthorizationFailed])
            let failing = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { failing.tool.kill() }
            let status = try failing.tool.waitForExit(within: .seconds(120))
            #expect(status != 0)
            let log = failing.tool.stderr.text
            #expect(log.contains("output cannot be delivered"), "\(log.suffix(3000))")
            #expect(log.contains("TOPIC_AUTHORIZATION_FAILED"), "\(log.suffix(3000))")

            // Whatever was committed, every record before it has its output.
            let (committed, _) = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers)
            let delivered = try echoedReadings(broker: broker)
            let input = try readTopics(["readings"], partitions: 4, bootstrap: broker.bootstrapServers)["readings", default: []]
            let committedButNotDelivered = input.filter { message in
                let partition = Int(message.partition)
                return committed[partition] >= 0 && message.offset < committed[partition]
                    && !delivered.contains(readingKey(message.valueText ?? ""))
            }
            #expect(committedButNotDelivered.isEmpty, "committed \(committed) past undelivered outputs: \(committedButNotDelivered.prefix(3))")
            #expect(delivered.count < readings.count, "every output was delivered despite the refusals")

            // The broker takes writes again: a restart reprocesses from the last commit.
            let again = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            try waitUntil("every reading echoed; stderr: \(again.tool.stderr.text.suffix(2000))", within: .seconds(120)) {
                try echoedReadings(broker: broker).count == readings.count
            }
            #expect(try again.stop() == 0, "\(again.tool.stderr.text.suffix(2000))")
        }

        /// The readings echoed so far, as `device@time` (a record processed twice is echoed twice).
        private func echoedReadings(broker: EmbeddedKafkaBroker) throws -> Set<String> {
            let events = try readTopics(["echo"], partitions: 4, bootstrap: broker.bootstrapServers)["echo", default: []]
            return Set(try events.map { event in
                guard let text = event.valueText,
                    let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let device = object["device"] as? String, let time = object["time"] as? Int
                else { throw TestFailure(description: "not a trigger event: \(event)") }
                return "\(device)@\(time)"
            })
        }
    }
}

/// TOPIC_AUTHORIZATION_FAILED: a broker error that fails a produce request for good.
private let topicAuthorizationFailed: Int32 = 29

/// A simulated reading as `device@ts`.
private func readingKey(_ line: String) -> String {
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let device = object["device"] as? String, let time = object["ts"] as? Int
    else { return line }
    return "\(device)@\(time)"
}
