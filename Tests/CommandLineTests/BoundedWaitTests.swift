// The runtime at its edges, through the command line on the embedded broker: a drain whose
// broker stops answering still ends within --drain-timeout, trouble that lasts fails the
// process so that it is started again, and a cluster replaced under a running process stops it
// before it mixes two clusters' offsets.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("bounded waits")
    struct BoundedWaits {
        @Test("SIGTERM as the broker freezes (every request answered after 10 minutes): the drain ends within --drain-timeout, exits non-zero and names each unfinished step")
        func aDrainOnAFrozenBrokerEnds() throws {
            let running = try RunningEndToEnd("frozen-drain", readings: 2000, extra: ["--drain-timeout", "5"])
            let (broker, service) = (running.broker, running.service)
            // Commits and heartbeats are under way when the broker freezes: the last commit and
            // the LeaveGroup of the close wait for answers that do not come in time.
            try broker.setRoundTripTime(broker: 1, .seconds(600))
            let stopped = ContinuousClock.now
            service.tool.send(SIGTERM)
            // 5 s of drain, and room for a loaded machine to start and end a process.
            let status = try service.tool.waitForExit(within: .seconds(25))
            let took = ContinuousClock.now - stopped
            #expect(status != 0)
            let stderr = service.tool.stderr.text
            #expect(stderr.contains("tidemark run: the drain (at most 5.0 seconds) left work undone: "), "\(stderr.suffix(2000))")
            #expect(
                stderr.contains("the consumer did not leave its group in time"),
                "the close is named as unfinished: \(stderr.suffix(2000)); took \(took)")
            try broker.setRoundTripTime(broker: 1, .zero)
        }

        @Test("no broker for longer than --unhealthy-after: /health says failing (503) naming the trouble, and the process exits non-zero within its drain timeout")
        func lastingTroubleFails() throws {
            let running = try RunningEndToEnd("unhealthy", readings: 200, extra: ["--unhealthy-after", "15", "--drain-timeout", "5"])
            let (broker, service) = (running.broker, running.service)
            try broker.setBrokerDown(1)
            var seen: Set<String> = []
            try waitUntil("the process to give up; /health seen: \(seen)", within: .seconds(120)) {
                if let health = service.health { seen.insert(health) }
                return !service.tool.isRunning
            }
            let status = try service.tool.waitForExit()
            #expect(status != 0)
            #expect(seen.contains { $0.hasPrefix(#"{"status":"degraded","detail":"no broker connection for "#) }, "\(seen)")
            let failing = #"{"status":"failing","detail":"degraded for longer than 15 s: no broker connection for "#
            #expect(seen.contains { $0.hasPrefix(failing) }, "\(seen)")
            #expect(
                service.tool.stderr.text.contains("tidemark run: degraded for longer than 15 s: no broker connection for "),
                "\(service.tool.stderr.text.suffix(2000))")
        }

        @Test("the cluster behind the bootstrap address is replaced by another: the process fails naming both cluster ids, exits non-zero and commits nothing to the new cluster")
        func aReplacedClusterFails() throws {
            let scratch = try ScratchDirectory("replaced-cluster")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let readings = try simulateReadings(into: scratch, count: 500)
            let first = try endToEndBroker()
            defer { first.stop() }
            try createChangelogs(on: first, apps: scratch.path("apps"), group: "g")
            // Clients bootstrap through a fixed port; the cluster behind it is what changes.
            let port = try freeLoopbackPort()
            var forwarder = try BootstrapForwarder(port: port, target: first.bootstrapServers)
            defer { forwarder.stop() }
            let producer = try TestProducer(bootstrap: first.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()

            let service = try RunningService(brokers: "127.0.0.1:\(port)", apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            #expect(service.health == #"{"status":"ok","detail":"running"}"# + "\n")

            // A new, empty cluster on the same bootstrap address, holding the same readings again.
            let second = try endToEndBroker()
            defer { second.stop() }
            try createChangelogs(on: second, apps: scratch.path("apps"), group: "g")
            let again = try TestProducer(bootstrap: second.bootstrapServers)
            try again.sendReadings(readings, topic: "readings")
            try again.finish()
            forwarder.stop()
            try first.setBrokerDown(1)
            forwarder = try BootstrapForwarder(port: port, target: second.bootstrapServers)

            #expect(try service.tool.waitForExit(within: .seconds(90)) != 0)
            let stderr = service.tool.stderr.text
            let change = try #require(
                stderr.firstMatch(of: #/the cluster changed from (\S+) to (\S+) under this process/#), "\(stderr.suffix(3000))")
            #expect(change.output.1 != change.output.2)
            // Nothing the process did on the new cluster is counted as done there.
            let offsets = try committedAndEndOffsets(group: "g", topic: "readings", partitions: 4, bootstrap: second.bootstrapServers)
            #expect(offsets.committed.allSatisfy { $0 < 0 }, "offsets committed to the new cluster: \(offsets.committed)")
        }

        @Test("a changelog copied from another cluster (its positions are that cluster's offsets) fails the restore, naming both clusters")
        func aChangelogOfAnotherClusterIsRefused() throws {
            let scratch = try ScratchDirectory("mirrored-changelog")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let readings = try simulateReadings(into: scratch, count: 500)
            let first = try endToEndBroker()
            defer { first.stop() }
            let producer = try TestProducer(bootstrap: first.bootstrapServers)
            try producer.sendReadings(readings, topic: "readings")
            try producer.finish()
            let service = try RunningService(broker: first, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try service.waitForRecordsIn(app: "e2e", readings.count)
            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
            let firstCluster = try #require(
                service.tool.stderr.text.firstMatch(of: #/id=(\S+) \[Tidemark\] cluster/#)?.output.1, "\(service.tool.stderr.text.suffix(2000))")

            // Another cluster with the readings and the changelog, as a mirror would copy them.
            let second = try endToEndBroker()
            defer { second.stop() }
            try createChangelogs(on: second, apps: scratch.path("apps"), group: "g")
            let copy = try TestProducer(bootstrap: second.bootstrapServers)
            try copy.sendReadings(readings, topic: "readings")
            let changelog = try readTopics(["g-e2e-changelog"], partitions: 4, bootstrap: first.bootstrapServers)["g-e2e-changelog"] ?? []
            let partitionRecords = changelog.filter { $0.key == [0] }
            #expect(partitionRecords.count >= 4 && partitionRecords.allSatisfy { $0.headers["tidemark-cluster"] == String(firstCluster) }, "\(partitionRecords)")
            for record in changelog.sorted(by: { $0.offset < $1.offset }) {
                try copy.send(topic: record.topic, key: record.key, value: record.value, partition: record.partition, headers: record.headers)
            }
            try copy.finish()

            let again = try RunningService(brokers: second.bootstrapServers, apps: scratch.path("apps"), group: "g")
            defer { again.tool.kill() }
            #expect(try again.tool.waitForExit(within: .seconds(90)) != 0)
            let stderr = again.tool.stderr.text
            #expect(stderr.contains("its positions are offsets of cluster \(firstCluster), but this is cluster "), "\(stderr.suffix(3000))")
        }
    }
}
