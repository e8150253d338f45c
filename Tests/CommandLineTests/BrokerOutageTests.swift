// A Kafka outage in the middle of a run: the embedded broker goes down while readings are
// produced and consumed, comes back, and nothing is lost, duplicated or computed differently.
import EmbeddedKafka
import Foundation
import Kafka
import Testing

extension TidemarkCommandLine {
    @Suite("broker outage")
    struct BrokerOutage {
        @Test("after the broker is down for five seconds every reading is processed and the results equal batch's")
        func resultsSurviveAnOutage() throws {
            let scratch = try ScratchDirectory("outage")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)

            let broker = try endToEndBroker()
            defer { broker.stop() }

            // With the service's own defaults: whether the group session survives the
            // outage or the partitions are lost and come back, no record is lost or applied twice.
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            // Readings keep coming while the broker is away.
            let stream = try ReadingStream(readings, broker: broker)
            try takeDownMidStream(broker, stream, service)
            let consumedBeforeOutage = service.recordsIn(app: "e2e") ?? 0
            let outageEnds = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < outageEnds { try stream.send() }
            try broker.setBrokerUp(1)
            try stream.finish()

            try service.waitForRecordsIn(app: "e2e", readings.count, within: .seconds(120))
            let ends = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: broker.bootstrapServers).ends
            #expect(ends.reduce(0, +) == Int64(readings.count), "the readings topic holds \(ends) records")
            #expect(
                service.recordsIn(app: "e2e") == readings.count,
                "records read again after the outage; log: \(service.tool.stderr.lines.filter { !$0.contains(" kafka") }.suffix(30))")
            #expect(consumedBeforeOutage < readings.count / 2, "the outage came too late to matter")
            #expect(service.tool.isRunning)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            #expect(service.recordsIn(app: "e2e") == nil)

            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch)
        }

        @Test("SIGTERM while no broker answers: /health says stopping, the drain gives up after --drain-timeout and the run exits non-zero naming what is undone; a run after the broker is back makes every window equal batch's")
        func aDrainWithoutABrokerEndsNonZero() throws {
            let scratch = try ScratchDirectory("outage-drain")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch)
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: ["--drain-timeout", "5"])
            defer { service.tool.kill() }
            // Outputs and checkpoints are in flight when the broker goes.
            let stream = try ReadingStream(readings, broker: broker)
            try takeDownMidStream(broker, stream, service)
            Thread.sleep(forTimeInterval: 1)
            service.tool.send(SIGTERM)
            var seen: Set<String> = []
            while service.tool.isRunning {
                if let health = service.health { seen.insert(health) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(
                seen.contains { $0.hasPrefix(#"{"status":"stopping","detail":"delivering outputs, writing the last checkpoint and committing (at most 5.0 seconds)"}"#) },
                "/health during the drain: \(seen)")
            let status = try service.tool.waitForExit()
            #expect(status != 0)
            #expect(
                service.tool.stderr.text.contains("tidemark run: the drain (at most 5.0 seconds) left work undone: "),
                "\(service.tool.stderr.text.suffix(2000))")

            try broker.setBrokerUp(1)
            try stream.finish()
            let again = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            try waitForEverythingCommitted(group: "g", broker: broker, service: again)
            #expect(try again.stop() == 0, "\(again.tool.stderr.text.suffix(2000))")
            let topics = try readTopics(endToEndOutputTopics + ["e2e-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            try expectEndToEndOutputs(topics, in: scratch, restarted: true)
        }

        @Test("while no broker answers for longer than the session, /health says degraded and lags are unknown, then ok again")
        func anOutageShowsInHealth() throws {
            let scratch = try ScratchDirectory("outage-health")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try producer.sendReadings(try simulateReadings(into: scratch, count: 200), topic: "readings")
            try producer.finish()

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", 200)
            let lag = #"tidemark_consumer_lag_records{topic="readings",partition="0"}"#
            try waitUntil("lag of readings/0 known: \(service.sample(lag) ?? "nil")", within: .seconds(30)) { service.sample(lag) == "0.0" }
            #expect(service.health == #"{"status":"ok","detail":"running"}"# + "\n")

            try broker.setBrokerDown(1)
            // The session timeout (10 s) is the patience: trouble shorter than that is not reported.
            try waitUntil("degraded health; /health \(service.health ?? "nil")", within: .seconds(60)) {
                service.health?.hasPrefix(#"{"status":"degraded","detail":"no broker connection for "#) ?? false
            }
            // Partitions still held have an unknown lag, not 0; once the session is lost they
            // are no longer this process's to report.
            let unknown = service.sample(lag)
            #expect(unknown == "nan" || unknown == nil, "an unknown lag is not \(unknown ?? "nil")")
            #expect(service.tool.isRunning)

            try broker.setBrokerUp(1)
            try waitUntil("ok health again; /health \(service.health ?? "nil")", within: .seconds(60)) {
                service.health == #"{"status":"ok","detail":"running"}"# + "\n"
            }
            try waitUntil("lag known again: \(service.sample(lag) ?? "nil")", within: .seconds(30)) { service.sample(lag) == "0.0" }
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        }

        @Test("two processes in the group of a one-partition topic: past the session, the one that holds nothing says degraded, no partitions assigned; the other ok")
        func noAssignmentShowsInHealth() throws {
            let scratch = try ScratchDirectory("outage-unassigned")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["readings"] + endToEndOutputTopics + ["e2e-late"] { try broker.createTopic(topic, partitions: 1) }

            let first = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { first.tool.kill() }
            let held = #"tidemark_consumer_lag_records{topic="readings",partition="0"}"#
            try waitUntil("readings/0 held by the first process", within: .seconds(60)) { first.sample(held) != nil }
            let second = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { second.tool.kill() }
            // Which member keeps the partition is the assignor's choice: the mock broker's
            // member ids are addresses, so either may sort first. The session timeout (10 s)
            // is the patience.
            let unassigned = #"{"status":"degraded","detail":"no partitions assigned for "#
            let ok = #"{"status":"ok","detail":"running"}"# + "\n"
            try waitUntil("one degraded, one ok; /health \(first.health ?? "nil") and \(second.health ?? "nil")", within: .seconds(90)) {
                let (a, b) = (first.health, second.health)
                return (a?.hasPrefix(unassigned) ?? false) && b == ok || (b?.hasPrefix(unassigned) ?? false) && a == ok
            }
            let idle = first.health == ok ? second : first
            #expect(idle.sample(held) == nil, "the process holding nothing reports a lag for readings/0")
            #expect(try second.stop() == 0, "\(second.tool.stderr.text.suffix(2000))")
            #expect(try first.stop() == 0, "\(first.tool.stderr.text.suffix(2000))")
        }
    }
}

