// The parts of repartitioning that need no broker: the origin before a repartitioned value,
// a state taking each origin once (and keeping that through its changelog), and the app file
// rules of `input.key`.
import Streaming
import Testing
import Tidemark

@Suite struct RepartitionTests {
    @Test func aRepartitionedValueCarriesItsOriginBeforeTheInputValue() {
        var value: [UInt8] = []
        Array(#"{"device":"d1"}"#.utf8).withUnsafeBytes {
            RepartitionedValue.append(partition: 3, offset: 1_000_000_000_007, value: $0, to: &value)
        }
        #expect(value.prefix(13) == [0, 0, 0, 0, 3, 0, 0, 0, 0xE8, 0xD4, 0xA5, 0x10, 0x07])
        value.withUnsafeBytes { bytes in
            let read = RepartitionedValue.read(bytes)
            #expect(read?.partition == 3)
            #expect(read?.offset == 1_000_000_000_007)
            #expect(read.map { String(decoding: $0.value, as: UTF8.self) } == #"{"device":"d1"}"#)
        }
        // Not written by tidemark: too short, or another format byte.
        for foreign: [UInt8] in [Array(#"{"device":"d1"}"#.utf8), [0, 0, 0]] {
            foreign.withUnsafeBytes { #expect(RepartitionedValue.read($0) == nil) }
        }
    }

    @Test func aStateTakesEachOriginOnceAndKeepsThatThroughItsChangelog() throws {
        let app = try AppDefinition.parse(
            yaml: "app: a\ninput: {topic: t, device: device, time: ts, key: any}\nseries:\n  - {name: m, window: {size: 1m}, aggregate: {n: count()}, output: o}\n",
            file: "a.yaml")
        let state = PartitionState(engine: try WindowEngine(series: app.series.map(\.spec), watermark: app.watermark, fieldCount: 0), start: 0)
        #expect(state.takeOrigin(partition: 2, offset: 5))
        #expect(state.takeOrigin(partition: 0, offset: 9))
        // A second copy of an origin taken, or of one before it (written again after a crash).
        #expect(!state.takeOrigin(partition: 2, offset: 5))
        #expect(!state.takeOrigin(partition: 2, offset: 4))
        #expect(state.takeOrigin(partition: 2, offset: 6))
        #expect(state.origins == [9, -1, 6])

        var batch = ChangelogBatch()
        batch.appendPartition(of: state, topic: "g-a-changelog", partition: 1, position: 40)
        #expect(batch.records.map(\.origins) == ["9,-1,6"])
        var contents = ChangelogContents()
        try batch.bytes.withUnsafeBytes { bytes in
            let record = batch.records[0]
            try contents.add(
                key: UnsafeRawBufferPointer(rebasing: bytes[record.key]), value: UnsafeRawBufferPointer(rebasing: bytes[record.value!]),
                tombstonePosition: nil, origins: record.origins)
        }
        let restored = try contents.restore(makeEngine: { state.engine }, partition: 1, freshStart: 0, now: 0)
        #expect(restored.origins == [9, -1, 6])
        #expect(restored.start == 40)
        #expect(!restored.takeOrigin(partition: 0, offset: 9))

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
