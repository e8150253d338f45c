// Input not keyed by device (`input.key: any`): `run` writes each record again, keyed by its
// device, to `<group>-<topic>-repartition`, and the app reads it there, so every window holds
// all of its device's readings, whichever input partitions they were spread over.
import EmbeddedKafka
import Foundation
import Kafka
import Testing
import TidemarkTestSupport
import Tidemark

extension TidemarkCommandLine {
    @Suite("repartitioning")
    struct Repartitioning {
        /// One app per input topic, each told how its topic is keyed. Count, min and max do
        /// not depend on the order readings arrive in; lateness that keeps every reading
        /// keeps the final results from depending on it either.
        static func app(_ name: String, topic: String, key: String?) -> String {
            """
            app: \(name)
            input: {topic: \(topic), device: device, time: ts\(key.map { ", key: \($0)" } ?? "")}
            watermark: {per: device, out_of_order: 10s}
            series:
              - name: minute
                window: {size: 1m}
                allowed_lateness: 1d
                aggregate: {count: count(), min: min(temperature), max: max(temperature)}
                output: \(name)-minute
            late: {output: \(name)-late}

            """
        }

        /// The newest result of every window closed by the end of the input (its device's
        /// watermark passed its end), as `count/min/max`.
        static func finals(_ outputs: Outputs, latest: [String: Int64]) -> [WindowKey: String] {
            var finals: [WindowKey: String] = [:]
            for window in outputs.revisions.keys where outputs.ends[window]! <= latest[window.device, default: .min] - 10_000 {
                guard let json = outputs.final(window)?.json,
                    let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
                else { continue }
                finals[window] = "\(object["count"] ?? "nil")/\(object["min"] ?? "nil")/\(object["max"] ?? "nil")"
            }
            return finals
        }

        /// Sends the readings to `topic` with null keys, round robin over its 4 partitions, or
        /// keyed by one of three gateways a reading picks in turn.
        static func send(_ readings: [String], to topic: String, keys: String, producer: TestProducer) throws {
            for (index, reading) in readings.enumerated() {
                switch keys {
                case "none": try producer.send(topic: topic, key: nil, value: reading, partition: Int32(index % 4))
                case "gateway": try producer.send(topic: topic, key: "gateway-\(index % 3)", value: reading)
                default: try producer.send(topic: topic, key: deviceField(of: reading), value: reading)
                }
            }
        }

        @Test("one process reading null-keyed, gateway-keyed and device-keyed topics gives batch's results on each")
        func threeTopicsGiveBatchsResults() throws {
            let scratch = try ScratchDirectory("repartition")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch, count: 6_000)
            let apps = [("nulls", "null-keyed", "any"), ("gateways", "gateway-keyed", "any"), ("devices", "device-keyed", nil)]
            // Read as if keyed by device: counted, logged and shown, not silently split.
            try scratch.write("apps/misread.yaml", Self.app("misread", topic: "misread", key: nil))
            for (name, topic, key) in apps { try scratch.write("apps/\(name).yaml", Self.app(name, topic: topic, key: key)) }
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for (name, topic, _) in apps + [("misread", "misread", nil)] {
                for created in [topic, "\(name)-minute", "\(name)-late"] { try broker.createTopic(created, partitions: 4) }
            }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try Self.send(readings, to: "null-keyed", keys: "none", producer: producer)
            try Self.send(readings, to: "gateway-keyed", keys: "gateway", producer: producer)
            try Self.send(readings, to: "device-keyed", keys: "device", producer: producer)
            try Self.send(Array(readings.prefix(100)), to: "misread", keys: "gateway", producer: producer)
            // Without a device id: late before repartitioning, as it came. With one, but not
            // readable otherwise: late from the repartition topic, keyed by its device.
            try producer.send(
                topic: "null-keyed", key: Array("gateway-7".utf8), value: Array("not json".utf8), partition: 1, headers: ["mqtt-topic": "plant/7"])
            try producer.send(topic: "null-keyed", key: nil, value: #"{"device":"dev-000001","ts":1795824000000,"temperature":"hot"}"#, partition: 2)
            try producer.finish()

            let validate = try runTool(["validate", "--apps", scratch.path("apps"), "--group", "g"])
            #expect(validate.stdout == """
                devices: input device-keyed, 1 series, 0 triggers (\(scratch.path("apps/devices.yaml")))
                gateways: input gateway-keyed through g-gateway-keyed-repartition, 1 series, 0 triggers (\(scratch.path("apps/gateways.yaml")))
                misread: input misread, 1 series, 0 triggers (\(scratch.path("apps/misread.yaml")))
                nulls: input null-keyed through g-null-keyed-repartition, 1 series, 0 triggers (\(scratch.path("apps/nulls.yaml")))

                """)

            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            for (name, _, _) in apps { try service.waitForRecordsIn(app: name, readings.count) }
            try waitUntil("the repartitioned records counted", within: .seconds(30)) {
                service.sample(#"tidemark_repartitioned_records_total{topic="null-keyed"}"#) == "6001"
                    && service.sample(#"tidemark_repartitioned_records_total{topic="gateway-keyed"}"#) == "6000"
            }
            try waitUntil("the records not keyed by device counted and shown", within: .seconds(30)) {
                service.sample(#"tidemark_records_not_keyed_by_device_total{app="misread"}"#) == "100"
                    && service.health == #"{"status":"degraded","detail":"apps misread read records whose key is not their device id (input.key: device): set input.key: any to repartition them"}"# + "\n"
            }
            #expect(service.sample(#"tidemark_records_not_keyed_by_device_total{app="devices"}"#) == "0")
            #expect(try service.stop() == 0)
            #expect(service.tool.stderr.text.contains(#"repartitioned=null-keyed through g-null-keyed-repartition"#))

            let latest = try latestEventTimes(in: readings)
            let topics = try readTopics(
                apps.map { "\($0.0)-minute" } + ["g-null-keyed-repartition", "nulls-late"], partitions: 4, bootstrap: broker.bootstrapServers)
            let late = topics["nulls-late", default: []].sorted { ($0.keyText ?? "") < ($1.keyText ?? "") }
            #expect(late.map { "\($0.keyText ?? "nil") \($0.valueText ?? "nil") \($0.headers.sorted { $0.key < $1.key })" } == [
                #"dev-000001 {"device":"dev-000001","ts":1795824000000,"temperature":"hot"} [(key: "tidemark-error", value: "an aggregated field is not a number"), (key: "tidemark-reason", value: "malformed")]"#,
                #"gateway-7 not json [(key: "mqtt-topic", value: "plant/7"), (key: "tidemark-error", value: "not valid JSON"), (key: "tidemark-reason", value: "malformed")]"#,
            ])
            for (name, _, _) in apps {
                let batch = Self.finals(try batchReference(app: "apps/\(name).yaml", input: "readings.jsonl", in: scratch).outputs, latest: latest)
                let run = Self.finals(try Outputs(topics["\(name)-minute", default: []].compactMap(\.valueText)), latest: latest)
                #expect(!batch.isEmpty)
                let differing = Set(batch.keys).union(run.keys).filter { batch[$0] != run[$0] }.sorted()
                #expect(differing.isEmpty, "\(name): \(differing.count) windows differ, e.g. \(differing.prefix(3).map { "\($0): run \(run[$0] ?? "none"), batch \(batch[$0] ?? "none")" })")
            }
            // The device-keyed topic is read directly, in order: its results are batch's revision for revision.
            try expectRunOutputs(
                topics, outputTopics: ["devices-minute"], lateTopic: "devices-late", matchBatchOf: "apps/devices.yaml", over: "readings.jsonl",
                in: scratch, exercisesLateness: false)
            // Each repartitioned record is keyed by its device, in the partition Java's producer gives that key.
            let repartitioned = topics["g-null-keyed-repartition", default: []]
            #expect(repartitioned.count == readings.count + 1)
            let misplaced = repartitioned.filter { message in
                guard var device = message.keyText, let value = message.value, value.count > RepartitionedValue.headerSize else { return true }
                let reading = String(decoding: value.dropFirst(RepartitionedValue.headerSize), as: UTF8.self)
                return deviceField(of: reading) != device
                    || message.partition != device.withUTF8 { KafkaPartitioner.murmur2(UnsafeRawBufferPointer($0), partitions: 4) }
            }
            #expect(misplaced.isEmpty, "\(misplaced.prefix(3))")
        }

        @Test("dev-broker --apps creates the repartition topic with its input topic's partitions")
        func devBrokerCreatesTheRepartitionTopic() throws {
            let scratch = try ScratchDirectory("repartition-dev-broker")
            defer { scratch.remove() }
            try scratch.write("topics/topics.yaml", "topics:\n  - {name: raw, partitions: 6}\n")
            try scratch.write("apps/nulls.yaml", Self.app("nulls", topic: "raw", key: "any"))
            let broker = try ToolProcess(["dev-broker", "--topics", scratch.path("topics"), "--apps", scratch.path("apps"), "--group", "g"])
            defer { broker.kill() }
            let bootstrap = try broker.firstLine()
            let counts = try KafkaTopicAdmin.partitionCounts(
                of: ["raw", "g-raw-repartition", "g-nulls-changelog"], config: clientConfig(bootstrap), timeout: .seconds(10))
            #expect(counts == ["raw": 6, "g-raw-repartition": 6, "g-nulls-changelog": 6])
            #expect(try broker.stop() == 0)
        }

        @Test("a kill -9 in the middle of repartitioned processing changes no result")
        func killedInTheMiddle() throws {
            let scratch = try ScratchDirectory("repartition-kill")
            defer { scratch.remove() }
            let readings = try simulateReadings(into: scratch, count: 20_000)
            try scratch.write("apps/nulls.yaml", Self.app("nulls", topic: "null-keyed", key: "any"))
            let broker = try EmbeddedKafkaBroker(brokers: 1)
            defer { broker.stop() }
            for topic in ["null-keyed", "nulls-minute", "nulls-late"] { try broker.createTopic(topic, partitions: 4) }
            let producer = try TestProducer(bootstrap: broker.bootstrapServers)
            try Self.send(readings, to: "null-keyed", keys: "none", producer: producer)
            try producer.finish()

            // Killed once records are repartitioned and read, before any is committed: the next
            // process writes them all again, and reads both copies.
            let quickSession = ["--property", "session.timeout.ms=6000", "--property", "heartbeat.interval.ms=500"]
            let first = try RunningService(
                broker: broker, apps: scratch.path("apps"), group: "g", extra: quickSession + ["--checkpoint-interval", "600"])
            try first.waitForRecordsIn(app: "nulls", 3_000)
            first.tool.kill()

            let second = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g", extra: quickSession)
            defer { second.tool.kill() }
            let latest = try latestEventTimes(in: readings)
            let batch = Self.finals(try batchReference(app: "apps/nulls.yaml", input: "readings.jsonl", in: scratch).outputs, latest: latest)
            var run: [WindowKey: String] = [:]
            try waitUntil("run's final results to equal batch's", within: .seconds(120)) {
                guard second.tool.isRunning else { throw TestFailure(description: "run exited: \(second.tool.stderr.text.suffix(2000))") }
                let topics = try readTopics(["nulls-minute"], partitions: 4, bootstrap: broker.bootstrapServers)
                run = Self.finals(try Outputs(topics["nulls-minute", default: []].compactMap(\.valueText)), latest: latest)
                return run == batch
            }
            #expect(try second.stop() == 0)
            #expect(run == batch)
            let repartitioned = try readTopics(["g-null-keyed-repartition"], partitions: 4, bootstrap: broker.bootstrapServers)
            #expect(repartitioned["g-null-keyed-repartition", default: []].count > readings.count, "no record was written twice")
        }
    }
}
