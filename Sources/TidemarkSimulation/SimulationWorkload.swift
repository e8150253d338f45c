// What a seed feeds the simulated runtime: the apps (windows of each kind, early results, a
// record trigger, late records), and devices' readings, out of order within and beyond the
// apps' lateness. In some seeds the readings are not keyed by device (`key: any`): `run`
// repartitions them, and the apps keep every reading and aggregate regardless of order.
import Foundation
import KafkaSimulation
import Tidemark

struct SimulationWorkload {
    struct Reading {
        var key: [UInt8]?
        var value: [UInt8]
        /// Where it is written; nil: placed by its key.
        var partition: Int32? = nil
    }

    static let inputTopic = "readings"
    static let outputTopics = ["results", "alerts", "late"]

    let startMillis: Int64
    let partitions: Int32
    let devices: Int
    /// Whether the readings are keyed by gateway or not at all, spread over the partitions,
    /// and the apps read them with `key: any`. Their allowed lateness then keeps every
    /// reading, whatever order repartitioning gives a device's readings, and their aggregates
    /// do not depend on that order: the newest result of a window is exact in content.
    let repartitions: Bool
    let apps: [AppDefinition]
    /// An app added while the processes run (a hot reload), reading from the earliest
    /// record: it catches up on what the others have read, and must still give batch's results.
    let addedApp: AppDefinition?
    /// In the order they are produced.
    let readings: [Reading]
    /// One a device, far after its last: every window of the readings closes.
    let closingReadings: [Reading]
    /// Windows that end after this may be open when the simulation ends: not compared.
    let comparedUntil: Int64
    /// The values of the readings every app finds malformed.
    let malformed: Set<[UInt8]>

    init(random: inout SimulationRandom, startMillis: Int64, repartitions: Bool) {
        self.startMillis = startMillis
        self.repartitions = repartitions
        partitions = Int32(random.int(in: 1...4))
        devices = random.int(in: 2...8)
        apps = Self.appFiles(random: &random, repartitions: repartitions).map { file in
            // The files are fixed and valid: a failure here is a bug in this file.
            try! AppDefinition.parse(yaml: file.yaml, file: file.name)
        }
        addedApp = random.chance(0.4)
            ? try! AppDefinition.parse(
                yaml: """
                    app: added
                    input: {topic: readings, device: device, time: ts, start: earliest\(repartitions ? ", key: any" : "")}
                    series:
                      - name: twenty_seconds
                        window: {size: 20s}
                        allowed_lateness: \(repartitions ? Self.keepsEveryReading : "30s")
                        aggregate: {count: count(), \(repartitions ? "max: max(t)" : "last: last(t)")}
                        output: results
                    late: {output: late}

                    """, file: "added.yaml")
            : nil
        // Readings dated an hour before the simulation starts, a few seconds apart per device;
        // some arrive out of order, a few beyond every app's lateness (but repartitioned apps').
        let base = startMillis - 3_600_000
        var times = Array(repeating: base, count: devices)
        var readings: [Reading] = []
        let count = random.int(in: 20...120)
        for _ in 0..<count {
            let device = random.int(in: 0...(devices - 1))
            times[device] += Int64(random.int(in: 200...4000))
            var time = times[device]
            if random.chance(0.1) { time -= Int64(random.int(in: 1000...20_000)) }
            if random.chance(0.02) { time -= Int64(random.int(in: 60_000...200_000)) }
            readings.append(Self.reading(device: device, time: time, value: random.int(in: 0...100)))
        }
        // A malformed record, now and then.
        var malformed: Set<[UInt8]> = []
        if random.chance(0.3) {
            let value = Array(#"{"device":"d0","ts":"#.utf8)
            readings.insert(Reading(key: Array("d0".utf8), value: value), at: random.int(in: 0...readings.count))
            malformed.insert(value)
        }
        let end = (times.max() ?? base) + 600_000
        var closingReadings = (0..<devices).map { Self.reading(device: $0, time: end, value: 0) }
        comparedUntil = end - 120_000
        if repartitions {
            // A record with a device but no time reaches the late topics from the repartition
            // topic (the malformed one above, without a readable device, before it).
            if random.chance(0.3) {
                let value = Array(#"{"device":"d1","ts":"soon","t":1}"#.utf8)
                readings.insert(Reading(key: nil, value: value), at: random.int(in: 0...readings.count))
                malformed.insert(value)
            }
            // Keyed by one of three gateways, or not at all and spread over the partitions.
            for index in readings.indices { Self.unkey(&readings[index], partitions: partitions, random: &random) }
            for index in closingReadings.indices { Self.unkey(&closingReadings[index], partitions: partitions, random: &random) }
        }
        self.readings = readings
        self.closingReadings = closingReadings
        self.malformed = malformed
    }

    /// More than any reading can trail its device's newest one (its closing reading included):
    /// repartitioning interleaves input partitions in any order, and no reading may be dropped.
    static let keepsEveryReading = "30m"

    private static func unkey(_ reading: inout Reading, partitions: Int32, random: inout SimulationRandom) {
        if random.chance(0.5) {
            reading.key = Array("gateway-\(random.int(in: 0...2))".utf8)
        } else {
            reading.key = nil
            reading.partition = Int32(random.int(in: 0...Int(partitions - 1)))
        }
    }

    private static func reading(device: Int, time: Int64, value: Int) -> Reading {
        Reading(key: Array("d\(device)".utf8), value: Array(#"{"device":"d\#(device)","ts":\#(time),"t":\#(value)}"#.utf8))
    }

    /// One to three apps, each with settings of its own.
    private static func appFiles(random: inout SimulationRandom, repartitions: Bool) -> [(name: String, yaml: String)] {
        let key = repartitions ? ", key: any" : ""
        func lateness(_ kept: String) -> String { repartitions ? keepsEveryReading : kept }
        var files: [(name: String, yaml: String)] = []
        if random.chance(0.8) || files.isEmpty {
            files.append((
                "tumbling.yaml",
                """
                app: tumbling
                input: {topic: readings, device: device, time: ts\(key)}
                watermark: {out_of_order: \(random.int(in: 0...5))s}
                series:
                  - name: ten_seconds
                    window: {size: 10s}
                    allowed_lateness: \(lateness("30s"))
                    aggregate: {count: count(), max: max(t), sum: sum(t)}
                    output: results
                triggers:
                  - {name: hot, when: t > 90, output: alerts}
                late: {output: late}

                """))
        }
        if random.chance(0.6) {
            files.append((
                "hopping.yaml",
                """
                app: hopping
                input: {topic: readings, device: device, time: ts\(key)}
                watermark: {out_of_order: \(random.int(in: 0...10))s\(random.chance(0.5) ? ", idle: 3s" : "")}
                series:
                  - name: half_minute
                    window: {size: 30s, slide: 10s}
                    allowed_lateness: \(lateness("1m"))
                    aggregate: {count: count(), mean: mean(t)}
                    output: results
                    emit: {every: \(random.int(in: 1...5))s}
                late: {output: late}

                """))
        }
        if random.chance(0.5) || files.isEmpty {
            files.append((
                "sessions.yaml",
                """
                app: sessions
                input: {topic: readings, device: device, time: ts\(key)}
                series:
                  - name: visits
                    window: {gap: \(random.int(in: 3...15))s}
                    allowed_lateness: \(lateness("20s"))
                    aggregate: {count: count(), min: min(t)}
                    output: results
                late: {output: late}

                """))
        }
        return files
    }
}
