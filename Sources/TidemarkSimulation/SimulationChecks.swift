// What a simulated schedule must leave behind, whatever struck it:
// - the newest result of every window equals `tidemark batch`'s over the same readings;
// - no (window, revision, timing) that is not early has two contents;
// - exactly once, the read-committed view holds each such result once;
// - the late topic and the trigger events hold what batch sends there;
// - an input offset is committed only once every app's changelog covers it.
// Where the readings are repartitioned (`key: any`), a device's readings reach its state in an
// order that depends on how the input partitions were interleaved, so revisions differ from
// batch's; what stays exact, since the apps keep every reading and aggregate regardless of
// order:
// - the newest result of every window equals batch's in content (revision and timing aside):
//   a reading taken twice (written twice to the repartition topic) would count twice;
// - the late topic holds exactly the malformed readings (batch finds no reading late);
// - an input offset is committed only once each record before it is in the repartition topic
//   (exactly once: in the commit's transaction) or, without a device, in the late topic;
// - an offset of the repartition topic, as any input's, once every changelog covers it.
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
    /// The topic the apps read: the input, or its repartition topic.
    private var readTopic: String {
        run.workload.repartitions ? RepartitionTopic.name(group: run.group, topic: inputTopic) : inputTopic
    }

    // MARK: Commits

    /// Called as the group coordinator stores offsets: each app's state must already be written
    /// up to there, or a crash now would skip what the states never saw.
    func committed(group: String, _ offsets: [KafkaTopicPartition]) {
        guard group == run.group else { return }
        for offset in offsets where offset.topic == inputTopic && run.workload.repartitions {
            checkRepartitioned(before: offset)
        }
        for offset in offsets where offset.topic == readTopic {
            // Not the added app: it catches up from its own changelog's position (or from the
            // earliest record), whatever the group commits for the others.
            for app in run.workload.apps {
                let changelog = ChangelogTopic.name(group: group, app: app.name)
                let covered = cluster.records(topic: changelog, partition: offset.partition, readCommitted: true)
                    .last { $0.key == ChangelogKey.partitionKey }.flatMap { $0.value.flatMap(Self.position) }
                // No state written yet is a state at the partition's beginning.
                guard (covered ?? 0) >= offset.offset else {
                    run.violations.append(
                        "t=\(run.elapsed) committed \(readTopic)/\(offset.partition) at \(offset.offset) while app \(app.name)'s changelog covers "
                            + (covered.map { "only up to \($0)" } ?? "nothing"))
                    continue
                }
            }
        }
    }

    /// Repartitioning: each input record before a committed offset must be where the apps will
    /// find it, or a crash now would lose it.
    private func checkRepartitioned(before offset: KafkaTopicPartition) {
        let written = Set(repartitioned().map(\.origin))
        let late = Set(values(of: "late"))
        for record in cluster.records(topic: inputTopic, partition: offset.partition, readCommitted: true) where record.offset < offset.offset {
            if Self.device(of: record.value) != nil {
                guard !written.contains(Origin(partition: offset.partition, offset: record.offset)) else { continue }
                run.violations.append(
                    "t=\(run.elapsed) committed \(inputTopic)/\(offset.partition) at \(offset.offset) before its record at \(record.offset) is in \(readTopic)")
            } else {
                guard !late.contains(record.value ?? []) else { continue }
                run.violations.append(
                    "t=\(run.elapsed) committed \(inputTopic)/\(offset.partition) at \(offset.offset) before its record at \(record.offset) (no device) is in the late topic")
            }
            return
        }
    }

    /// Where a repartitioned record was first written.
    private struct Origin: Hashable {
        var partition: Int32
        var offset: Int64
    }

    /// The origins of the repartition topic's records (read committed), in no order; under
    /// ``Sabotage/takesEveryOrigin``, the origins the records were forged from.
    private func repartitioned() -> [(origin: Origin, value: [UInt8])] {
        (0..<(cluster.partitionCount(of: readTopic) ?? 0)).flatMap { partition in
            cluster.records(topic: readTopic, partition: partition, readCommitted: true).compactMap { record in
                record.value.flatMap { value in
                    value.withUnsafeBytes(RepartitionedValue.read).map { read in
                        (Origin(partition: read.partition, offset: run.forgedOrigins.trueOffset(of: read.offset)), Array(read.value))
                    }
                }
            }
        }
    }

    /// The device a repartitioner finds in a reading, if any.
    static func device(of value: [UInt8]?) -> String? {
        guard let value, let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else { return nil }
        return object["device"] as? String
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

    /// The input's partitions (and the repartition topic's) not committed to their end.
    func uncommittedInput() -> String {
        var missing: [String] = []
        for topic in Set([inputTopic, readTopic]).sorted() {
            for partition in 0..<run.workload.partitions {
                guard let last = cluster.records(topic: topic, partition: partition, readCommitted: true).last else { continue }
                let committed = cluster.committedOffset(group: run.group, topic: topic, partition: partition) ?? -1
                if committed <= last.offset { missing.append("\(topic)/\(partition) committed at \(committed), ends at \(last.offset + 1)") }
            }
        }
        return missing.joined(separator: "; ")
    }

    /// Readings written to the repartition topic more than once (read committed), each of which
    /// must count once in windows that are compared: not the closing readings, nor the
    /// malformed ones.
    func repartitionedTwice() -> Int {
        guard run.workload.repartitions else { return 0 }
        let uncompared = run.workload.malformed.union(run.workload.closingReadings.map(\.value))
        return Dictionary(grouping: repartitioned(), by: \.origin).values
            .count(where: { $0.count > 1 && !uncompared.contains($0[0].value) })
    }

    /// Records whose first copy in a repartition partition comes after a later record of their
    /// input partition: a delivery that failed (a message timeout) while later ones went
    /// through, written again after the failure: each must still count once (see
    /// ``SimulationReport/repartitionGaps``).
    func repartitionGaps() -> [String] {
        guard run.workload.repartitions else { return [] }
        var gaps: [String] = []
        for partition in 0..<(cluster.partitionCount(of: readTopic) ?? 0) {
            var taken = Set<Origin>()
            var newest: [Int32: Int64] = [:]
            for record in cluster.records(topic: readTopic, partition: partition, readCommitted: true) {
                guard let read = record.value?.withUnsafeBytes(RepartitionedValue.read) else { continue }
                let origin = Origin(partition: read.partition, offset: run.forgedOrigins.trueOffset(of: read.offset))
                if let after = newest[origin.partition], after > origin.offset, !taken.contains(origin) {
                    gaps.append(
                        "\(readTopic)/\(partition) has its first copy of \(inputTopic)/\(origin.partition) at \(origin.offset) after the one at \(after): \(String(decoding: read.value, as: UTF8.self))")
                }
                taken.insert(origin)
                newest[origin.partition] = max(newest[origin.partition] ?? -1, origin.offset)
            }
        }
        return gaps
    }

    // MARK: Outputs

    /// A result's window and what it says.
    private struct Result {
        var window: String
        var revision: Int
        var timing: String
        var end: Int64
        var bytes: [UInt8]
        /// What it says of its window, without revision and timing: repartitioned, the same
        /// readings may reach a window in other batches than batch's.
        var content: [UInt8]
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
        let content = try? JSONSerialization.data(
            withJSONObject: object.filter { $0.key != "revision" && $0.key != "timing" }, options: .sortedKeys)
        return Result(
            window: "\(app)/\(series)/\(device)/\(start)", revision: revision, timing: timing, end: end, bytes: bytes,
            content: content.map(Array.init) ?? bytes, isRetraction: retraction)
    }

    func checkOutputs() {
        let repartitions = run.workload.repartitions
        let oracle = Oracle(apps: run.apps, partitions: run.workload.partitions, placesByDevice: repartitions, cluster: cluster)
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
            case (let want?, let got?) where repartitions ? want.content != got.content : want.bytes != got.bytes:
                run.violations.append(
                    "window \(window): newest result \(String(decoding: got.bytes, as: UTF8.self)), batch gives \(String(decoding: want.bytes, as: UTF8.self))")
            default: continue
            }
        }
        compare(Set(values(of: "alerts")), Set(oracle.triggers), what: "trigger event")
        compare(Set(values(of: "late")), Set(oracle.late), what: "late record")
        if repartitions {
            // Else some reading was late in batch's order, and might not be in another: the
            // results above would not be exact.
            for value in Set(oracle.late).subtracting(run.workload.malformed) {
                run.violations.append("batch finds a well-formed reading late, beyond the workload's lateness: \(String(decoding: value, as: UTF8.self))")
            }
        }
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
/// input partition in order, every window closed at the end. Repartitioned, each record goes
/// to its device's partition (as `replay` places it): one of the orders `run` may give it.
private final class Oracle: OutputSink {
    private(set) var results: [[UInt8]] = []
    private(set) var triggers: [[UInt8]] = []
    private(set) var late: [[UInt8]] = []

    init(apps: [AppDefinition], partitions: Int32, placesByDevice: Bool, cluster: SimulatedCluster) {
        for app in apps {
            let processor = try! AppProcessor(app: app)
            for input in 0..<partitions {
                for record in cluster.records(topic: SimulationWorkload.inputTopic, partition: input, readCommitted: true) {
                    let device = placesByDevice ? SimulationChecks.device(of: record.value) : nil
                    let partition = device.map { Array($0.utf8).withUnsafeBytes { KafkaPartitioner.murmur2($0, partitions: partitions) } } ?? input
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
