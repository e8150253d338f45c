// What a simulated schedule must leave behind, whatever struck it:
// - the newest result of every window equals `tidemark batch`'s over the same readings;
// - no (window, revision, timing) that is not early has two contents;
// - exactly once, the read-committed view holds each such result once;
// - the late topic and the trigger events hold what batch sends there;
// - an input offset is committed only once every app's changelog covers it.
// (The drain's deadline is checked by the run itself, as it stops each process.)
import Foundation
import Kafka
import KafkaSimulation
import Tidemark

final class SimulationChecks {
    private unowned let run: SimulationRun
    private(set) var resultCount = 0

    init(run: SimulationRun) {
        self.run = run
    }

    private var cluster: SimulatedCluster { run.cluster }
    private var inputTopic: String { SimulationWorkload.inputTopic }

    // MARK: Commits

    /// Called as the group coordinator stores offsets: each app's state must already be written
    /// up to there, or a crash now would skip what the states never saw.
    func committed(group: String, _ offsets: [KafkaTopicPartition]) {
        guard group == run.group else { return }
        for offset in offsets where offset.topic == inputTopic {
            // Not the added app: it catches up from its own changelog's position (or from the
            // earliest record), whatever the group commits for the others.
            for app in run.workload.apps {
                let changelog = ChangelogTopic.name(group: group, app: app.name)
                let covered = cluster.records(topic: changelog, partition: offset.partition, readCommitted: true)
                    .last { $0.key == ChangelogKey.partitionKey }.flatMap { $0.value.flatMap(Self.position) }
                // No state written yet is a state at the partition's beginning.
                guard (covered ?? 0) >= offset.offset else {
                    run.violations.append(
                        "t=\(run.elapsed) committed \(inputTopic)/\(offset.partition) at \(offset.offset) while app \(app.name)'s changelog covers "
                            + (covered.map { "only up to \($0)" } ?? "nothing"))
                    continue
                }
            }
        }
    }

    /// The input position a partition record's value covers (see ChangelogFormat).
    private static func position(of value: [UInt8]) -> Int64? {
        guard value.count > 9 else { return nil }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for byte in value[9...] {
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return Int64(bitPattern: result) }
            shift += 7
        }
        return nil
    }

    /// Whether every input record is covered by the group's committed offsets.
    func inputCommitted() -> Bool { uncommittedInput().isEmpty }

    func uncommittedInput() -> String {
        var missing: [String] = []
        for partition in 0..<run.workload.partitions {
            guard let last = cluster.records(topic: inputTopic, partition: partition, readCommitted: true).last else { continue }
            let committed = cluster.committedOffset(group: run.group, topic: inputTopic, partition: partition) ?? -1
            if committed <= last.offset { missing.append("\(inputTopic)/\(partition) committed at \(committed), ends at \(last.offset + 1)") }
        }
        return missing.joined(separator: "; ")
    }

    // MARK: Outputs

    /// A result's window and what it says.
    private struct Result {
        var window: String
        var revision: Int
        var timing: String
        var end: Int64
        var bytes: [UInt8]
        /// A session that disappeared (merged away, or its start moved): every aggregate null.
        var isRetraction: Bool

        /// Newer than `other`, as a consumer keeping the newest result decides.
        func supersedes(_ other: Result) -> Bool {
            revision != other.revision ? revision > other.revision : other.timing == "early" && timing != "early"
        }
    }

    private static func result(_ bytes: [UInt8]) -> Result? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let app = object["app"] as? String, let series = object["series"] as? String, let device = object["device"] as? String,
            let start = (object["start"] as? NSNumber)?.int64Value, let end = (object["end"] as? NSNumber)?.int64Value,
            let revision = (object["revision"] as? NSNumber)?.intValue, let timing = object["timing"] as? String
        else { return nil }
        let identity: Set = ["app", "series", "device", "start", "end", "revision", "timing"]
        let retraction = object.allSatisfy { identity.contains($0.key) || $0.value is NSNull }
        return Result(
            window: "\(app)/\(series)/\(device)/\(start)", revision: revision, timing: timing, end: end, bytes: bytes,
            isRetraction: retraction)
    }

    func checkOutputs() {
        let oracle = Oracle(apps: run.apps, partitions: run.workload.partitions, cluster: cluster)
        var seen: [String: [UInt8]] = [:]
        var newest: [String: Result] = [:]
        for record in values(of: "results") {
            guard let result = Self.result(record) else {
                run.violations.append("a result that does not parse: \(String(decoding: record, as: UTF8.self))")
                continue
            }
            resultCount += 1
            if result.timing != "early" {
                let identity = "\(result.window) revision \(result.revision) \(result.timing)"
                if let earlier = seen[identity] {
                    if earlier != result.bytes {
                        run.violations.append(
                            "\(identity) has two contents: \(String(decoding: earlier, as: UTF8.self)) and \(String(decoding: result.bytes, as: UTF8.self))")
                    } else if run.exactlyOnce {
                        run.violations.append("exactly once, \(identity) was read twice (read committed)")
                    }
                }
                seen[identity] = result.bytes
            }
            if let current = newest[result.window], !result.supersedes(current) { continue }
            newest[result.window] = result
        }
        var expected: [String: Result] = [:]
        for bytes in oracle.results {
            guard let result = Self.result(bytes) else { continue }
            if let current = expected[result.window], !result.supersedes(current) { continue }
            expected[result.window] = result
        }
        let until = run.workload.comparedUntil
        for window in Set(expected.keys).union(newest.keys).sorted() {
            // A retracted window is no window: batch, which emits less often, may never have
            // emitted the session it retracts.
            let want = expected[window].flatMap { $0.end <= until && !$0.isRetraction ? $0 : nil }
            let got = newest[window].flatMap { $0.end <= until && !$0.isRetraction ? $0 : nil }
            switch (want, got) {
            case (nil, nil): continue
            case (let want?, nil):
                run.violations.append("window \(window) is missing; batch gives \(String(decoding: want.bytes, as: UTF8.self))")
            case (nil, let got?):
                run.violations.append("window \(window) is not in batch's results; run gave \(String(decoding: got.bytes, as: UTF8.self))")
            case (let want?, let got?) where want.bytes != got.bytes:
                run.violations.append(
                    "window \(window): newest result \(String(decoding: got.bytes, as: UTF8.self)), batch gives \(String(decoding: want.bytes, as: UTF8.self))")
            default: continue
            }
        }
        compare(Set(values(of: "alerts")), Set(oracle.triggers), what: "trigger event")
        compare(Set(values(of: "late")), Set(oracle.late), what: "late record")
    }

    private func compare(_ got: Set<[UInt8]>, _ want: Set<[UInt8]>, what: String) {
        for missing in want.subtracting(got).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            run.violations.append("\(what) missing: \(String(decoding: missing, as: UTF8.self))")
        }
        for extra in got.subtracting(want).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            run.violations.append("\(what) that batch does not send: \(String(decoding: extra, as: UTF8.self))")
        }
    }

    /// The values of a topic's records as a read-committed consumer sees them.
    private func values(of topic: String) -> [[UInt8]] {
        (0..<(cluster.partitionCount(of: topic) ?? 0)).flatMap { partition in
            cluster.records(topic: topic, partition: partition, readCommitted: true).compactMap(\.value)
        }
    }
}

/// `tidemark batch`'s results over the readings the cluster holds: the same processor, fed each
/// input partition in order, every window closed at the end.
private final class Oracle: OutputSink {
    private(set) var results: [[UInt8]] = []
    private(set) var triggers: [[UInt8]] = []
    private(set) var late: [[UInt8]] = []

    init(apps: [AppDefinition], partitions: Int32, cluster: SimulatedCluster) {
        for app in apps {
            let processor = try! AppProcessor(app: app)
            for partition in 0..<partitions {
                for record in cluster.records(topic: SimulationWorkload.inputTopic, partition: partition, readCommitted: true) {
                    KafkaBytesLike.with(record.key) { key in
                        KafkaBytesLike.with(record.value) { value in
                            _ = processor.process(
                                value: value, key: key, timestamp: record.timestamp, partition: partition, offset: record.offset,
                                now: cluster.nowMillis, into: self)
                        }
                    }
                }
            }
            processor.endBatch(into: self)
            processor.closeAll(into: self)
        }
    }

    func send(topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, device: UnsafeRawBufferPointer, windowEnd: Int64?) {
        if topic == "alerts" { triggers.append(Array(value)) } else { results.append(Array(value)) }
    }

    func sendLate(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason) {
        late.append(value.map { Array($0) } ?? [])
    }
}

private enum KafkaBytesLike {
    static func with<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        return bytes.withUnsafeBytes { body($0) }
    }
}
