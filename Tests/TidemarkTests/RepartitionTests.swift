// The parts of repartitioning that need no broker: the origin before a repartitioned value,
// a state taking each origin once (and keeping that through its changelog), and the app file
// rules of `input.key`.
import Streaming
import Testing
import Tidemark

@Suite struct RepartitionTests {
    @Test func aRepartitionedValueCarriesItsOriginAndFloorBeforeTheInputValue() {
        var value: [UInt8] = []
        Array(#"{"device":"d1"}"#.utf8).withUnsafeBytes {
            RepartitionedValue.append(partition: 3, offset: 1_000_000_000_007, floor: 258, value: $0, to: &value)
        }
        #expect(value.prefix(21) == [1, 0, 0, 0, 3, 0, 0, 0, 0xE8, 0xD4, 0xA5, 0x10, 0x07, 0, 0, 0, 0, 0, 0, 1, 2])
        value.withUnsafeBytes { bytes in
            let read = RepartitionedValue.read(bytes)
            #expect(read?.partition == 3)
            #expect(read?.offset == 1_000_000_000_007)
            #expect(read?.floor == 258)
            #expect(read.map { String(decoding: $0.value, as: UTF8.self) } == #"{"device":"d1"}"#)
        }
        // Not written by tidemark: too short, or another format byte.
        for foreign: [UInt8] in [Array(#"{"device":"d1","temperature":21.5}"#.utf8), [1, 0, 0]] {
            foreign.withUnsafeBytes { #expect(RepartitionedValue.read($0) == nil) }
        }
    }

    @Test func aStateTakesEachOriginOnceEvenPastAGap() {
        var origins = TakenOrigins()
        func take(_ partition: Int32, _ offset: Int64, floor: Int64) -> Bool { origins.take(partition: partition, offset: offset, floor: floor) }
        // Offsets 5 and 6 of input partition 2 sent while 4 was in flight; 4's write failed.
        #expect(take(2, 5, floor: 4))
        #expect(take(2, 6, floor: 4))
        #expect(take(0, 9, floor: 9))
        // The next owner writes 4, 5 and 6 again: 4 is new, 5 and 6 are copies.
        #expect(take(2, 4, floor: 4))
        #expect(!take(2, 5, floor: 4))
        #expect(!take(2, 6, floor: 5))
        #expect(take(2, 7, floor: 7))
        // Below the floor every record is in the topic, ahead: a copy.
        #expect(!take(2, 3, floor: 3))
        #expect(origins.partitions == [.init(floor: 9, taken: [9]), .init(), .init(floor: 7, taken: [7])])
        #expect(origins.text == "9/9,-9223372036854775808,7/7")
        #expect(TakenOrigins(text: "9/9,-9223372036854775808,7/7") == origins)
        #expect(TakenOrigins(text: "9/x") == nil)
    }

    @Test func aStateKeepsItsOriginsThroughItsChangelog() throws {
        let app = try AppDefinition.parse(
            yaml: "app: a\ninput: {topic: t, device: device, time: ts, key: any}\nseries:\n  - {name: m, window: {size: 1m}, aggregate: {n: count()}, output: o}\n",
            file: "a.yaml")
        let state = PartitionState(engine: try WindowEngine(series: app.series.map(\.spec), watermark: app.watermark, fieldCount: 0), start: 0)
        #expect(state.takeOrigin(partition: 1, offset: 5, floor: 3))
        #expect(state.takeOrigin(partition: 1, offset: 8, floor: 4))

        var batch = ChangelogBatch()
        batch.appendPartition(of: state, topic: "g-a-changelog", partition: 1, position: 40)
        #expect(batch.records.map(\.origins) == ["-9223372036854775808,4/5/8"])
        var contents = ChangelogContents()
        try batch.bytes.withUnsafeBytes { bytes in
            let record = batch.records[0]
            try contents.add(
                key: UnsafeRawBufferPointer(rebasing: bytes[record.key]), value: UnsafeRawBufferPointer(rebasing: bytes[record.value!]),
                tombstonePosition: nil, origins: record.origins)
        }
        let restored = try contents.restore(makeEngine: { state.engine }, partition: 1, freshStart: 0, now: 0)
        #expect(restored.origins == state.origins)
        #expect(restored.start == 40)
        #expect(!restored.takeOrigin(partition: 1, offset: 5, floor: 4))
        #expect(restored.takeOrigin(partition: 1, offset: 4, floor: 4))

        var damaged = ChangelogContents()
        #expect(throws: ChangelogRestoreError.self) {
            try batch.bytes.withUnsafeBytes { bytes in
                let record = batch.records[0]
                try damaged.add(
                    key: UnsafeRawBufferPointer(rebasing: bytes[record.key]), value: UnsafeRawBufferPointer(rebasing: bytes[record.value!]),
                    tombstonePosition: nil, origins: "9,x")
            }
        }
    }

    @Test func keyIsDeviceOrAnyAndAnyNeedsADeviceField() {
        #expect(configErrors("app: a\ninput: {topic: t, device: id, key: gateway}\ntriggers: [{name: x, when: v > 1, output: o}]\n") == [
            "a.yaml:2:36: error: key must be device (the message key is the device id) or any (records are repartitioned by device), found 'gateway'"
        ])
        #expect(configErrors("app: a\ninput: {topic: t, key: any}\ntriggers: [{name: x, when: v > 1, output: o}]\n") == [
            "a.yaml:2:24: error: key: any needs input.device: without it the message key is the device, and records are never repartitioned"
        ])
        #expect(configErrors("app: a\ninput: {topic: t, device: id, key: any}\ntriggers: [{name: x, when: v > 1, output: o}]\n") == [])
    }

    @Test func allAppsOfATopicReadItOneWay() throws {
        let sources = [
            ("a.yaml", "app: a\ninput: {topic: t, device: id, key: any}\ntriggers: [{name: x, when: v > 1, output: o}]\n"),
            ("b.yaml", "app: b\ninput: {topic: t, device: id}\ntriggers: [{name: x, when: v > 1, output: o}]\n"),
            ("c.yaml", "app: c\ninput: {topic: t, device: serial, key: any}\ntriggers: [{name: x, when: v > 1, output: o}]\n"),
            ("d.yaml", "app: d\ninput: {topic: t, device: id, key: any}\ntriggers: [{name: x, when: v > 1, output: o}]\n"),
        ]
        do {
            _ = try AppLoader.parse(sources)
            Issue.record("expected refusals")
        } catch {
            #expect(error.errors.map(\.description) == [
                "b.yaml:1:6: error: app 'b' reads 't' directly (keyed by device), but app 'a' reads it repartitioned by field 'id' (key: any); all apps of a topic must read it one way",
                "c.yaml:1:6: error: app 'c' reads 't' repartitioned by field 'serial' (key: any), but app 'a' reads it repartitioned by field 'id' (key: any); all apps of a topic must read it one way",
            ])
        }
        // Running apps keep their way: a fresh app that differs is refused, not them.
        let running = try AppLoader.parse([sources[1]])
        let next = AppReload.next(running: running, load: AppLoader.parseEach(sources))
        #expect(next.apps.map(\.name) == ["b"])
    }
}
