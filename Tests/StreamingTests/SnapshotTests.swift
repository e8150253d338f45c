// Snapshots: an engine restored from bytes continues with exactly the original's outputs.
import Streaming
import Testing

@Suite struct SnapshotTests {
    @Test(arguments: 0 ..< 10)
    func aRestoredEngineContinuesIdentically(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(500 + seed))
        let series = [
            SeriesSpec(name: "t", window: .tumbling(size: 20), allowedLateness: 15, aggregates: propertyAggregates),
            SeriesSpec(name: "h", window: .hopping(size: 60, slide: 20), allowedLateness: 15, emit: .every(30),
                aggregates: propertyAggregates),
            SeriesSpec(name: "g", window: .session(gap: 7), allowedLateness: 15, emit: .updates, aggregates: propertyAggregates),
        ]
        let watermark = WatermarkSpec(scope: seed % 2 == 0 ? .device : .partition, outOfOrder: 5, idle: 40)
        var stream: [(TestRecord, Int32)] = []
        for i in 0 ..< 400 {
            let device = Int.random(in: 0 ..< 6, using: &rng)
            let time = Int64(i) + Int64.random(in: -12 ... 0, using: &rng)
            stream.append((TestRecord(device: "d\(device)", time: time, values: [Double.random(in: -9 ... 9, using: &rng), nil]), Int32(device % 2)))
        }
        var original = try EngineHarness(series, watermark: watermark, fields: 2)
        for (i, (record, partition)) in stream[..<200].enumerated() {
            original.sendValues(record.device, at: record.time, record.values, partition: partition, now: Int64(i) * 3)
            if i % 7 == 0 { original.advance(to: Int64(i) * 3) }
        }
        _ = original.emitted()
        let engineBytes = original.engine.snapshot()
        let tableBytes = original.devices.snapshot()
        let restoredEngine = try WindowEngine(series: series, watermark: watermark, fieldCount: 2, restoring: engineBytes)
        var restored = EngineHarness(
            restoring: restoredEngine, devices: try DeviceTable(restoring: tableBytes), specs: series, fields: 2)
        #expect(restoredEngine.snapshot() == engineBytes)

        for (i, (record, partition)) in stream[200...].enumerated() {
            let now = Int64(200 + i) * 3
            let a = original.sendValues(record.device, at: record.time, record.values, partition: partition, now: now)
            let b = restored.sendValues(record.device, at: record.time, record.values, partition: partition, now: now)
            #expect(a == b)
            if i % 5 == 0 {
                original.advance(to: now)
                restored.advance(to: now)
            }
        }
        original.closeAll()
        restored.closeAll()
        let expected = original.emitted()
        #expect(!expected.isEmpty)
        #expect(restored.emitted() == expected)
    }

    @Test func aSnapshotForOtherSpecsIsRejected() throws {
        let engine = try WindowEngine(
            series: [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(), fieldCount: 1)
        #expect(throws: SnapshotError.specMismatch) {
            try WindowEngine(
                series: [countSumMax(window: .tumbling(size: 20))], watermark: WatermarkSpec(), fieldCount: 1,
                restoring: engine.snapshot())
        }
        #expect(throws: SnapshotError.notASnapshot) {
            try WindowEngine(
                series: [countSumMax(window: .tumbling(size: 10))], watermark: WatermarkSpec(), fieldCount: 1,
                restoring: [1, 2, 3, 4, 5, 6, 7, 8])
        }
    }
}
