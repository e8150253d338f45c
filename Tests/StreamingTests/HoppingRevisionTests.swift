// Every emission of a hopping window, not just the final one, equals a direct computation over
// the records accepted so far, and its revision is the number of them that were late for the
// window: in-order closing reuses cached partial merges of panes, and late records, gaps, idle
// flushes, early emissions and batch ends must never leave a stale one behind.
import Streaming
import Testing

@Suite struct HoppingRevisionTests {
    @Test(arguments: 0 ..< 80)
    func everyRevisionEqualsTheRecordsAcceptedSoFar(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(5000 + seed))
        let (size, slide): (Int64, Int64) = [(60, 10), (100, 10), (40, 20), (90, 30), (50, 5)].randomElement(using: &rng)!
        let emits: [EmitPolicy] = [.final, .final, .every(Int64.random(in: 5 ... 60, using: &rng))]
        let spec = SeriesSpec(
            name: "h", window: .hopping(size: size, slide: slide), allowedLateness: Int64.random(in: 0 ... 150, using: &rng),
            emit: emits.randomElement(using: &rng)!, aggregates: propertyAggregates)
        let scope: WatermarkScope = Int.random(in: 0 ..< 3, using: &rng) == 0 ? .partition : .device
        let idle: Int64? = Bool.random(using: &rng) ? Int64.random(in: 20 ... 200, using: &rng) : nil
        let watermark = WatermarkSpec(scope: scope, outOfOrder: Int64.random(in: 0 ... 15, using: &rng), idle: idle)

        // Per device increasing event times with occasional gaps longer than a window.
        var records: [(record: TestRecord, partition: Int32)] = []
        for device in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
            var time = Int64.random(in: -200 ... 200, using: &rng)
            for _ in 0 ..< Int.random(in: 1 ... 90, using: &rng) {
                time += Int64.random(in: 0 ... 9, using: &rng)
                if Int.random(in: 0 ..< 12, using: &rng) == 0 { time += Int64.random(in: 10 ... 300, using: &rng) }
                let value: Double? =
                    Int.random(in: 0 ..< 10, using: &rng) == 0 ? nil : Double(Int.random(in: -4000 ... 4000, using: &rng)) / 64
                let sparse: Double? = Int.random(in: 0 ..< 4, using: &rng) == 0 ? Double(Int.random(in: 0 ... 99, using: &rng)) : nil
                records.append((TestRecord(device: "d\(device)", time: time, values: [value, sparse]), Int32(device % 2)))
            }
        }
        // Arrival delays reach past the lateness, so some records are too late and are left out.
        let arrival = records.map { ($0, $0.record.time + Int64.random(in: 0 ... spec.allowedLateness + 60, using: &rng), rng.next()) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map(\.0)

        var h = try EngineHarness([spec], watermark: watermark, fields: 2)
        var accepted: [String: [TestRecord]] = [:]
        /// Per window, the accepted records that came when the window had closed.
        var late: [WindowKey: Int64] = [:]
        var partitionLatest: [Int32: Int64] = [:]
        let watermarkSpecOutOfOrder = watermark.outOfOrder
        var checked = 0
        func check(_ context: String) {
            for result in h.sink.results {
                let device = h.devices.name(of: result.device)
                let key = WindowKey(series: 0, device: device, start: result.start)
                #expect(result.end == result.start + size)
                #expect(result.revision == late[key, default: 0], "seed \(seed) \(context): \(result)")
                let inside = (accepted[device] ?? []).filter { $0.time >= result.start && $0.time < result.end }
                let want = batchAggregates(inside)
                for (i, aggregate) in propertyAggregates.enumerated() {
                    let g = result.values[i], w = want[i]
                    if case .percentile = aggregate.function, let g, let w {
                        #expect(abs(g - w) <= abs(w) / 100 + 1e-12, "seed \(seed) \(context) \(result) \(aggregate.name)")
                    } else {
                        #expect(same(g, w), "seed \(seed) \(context) \(result) \(aggregate.name): want \(String(describing: w))")
                    }
                }
                checked += 1
            }
            h.sink.results.removeAll()
        }
        var now: Int64 = 0
        for (i, (record, partition)) in arrival.enumerated() {
            now += Int64.random(in: 0 ... 10, using: &rng)
            // Count the record first: a window it lands in may be emitted by this very call.
            accepted[record.device, default: []].append(record)
            // The watermark the record is judged against: a device new on a partition takes the
            // partition's at once.
            var watermark = h.engine.watermark(of: h.devices.intern(record.device))
            if scope == .partition, let latest = partitionLatest[partition] {
                watermark = max(watermark ?? .min, latest - watermarkSpecOutOfOrder)
            }
            partitionLatest[partition] = max(partitionLatest[partition] ?? .min, record.time)
            if h.sendValues(record.device, at: record.time, record.values, partition: partition, now: now) != .accepted {
                accepted[record.device]!.removeLast()
            } else if let watermark {
                var start = floorDiv(record.time, slide) * slide
                while start > record.time - size {
                    if start + size <= watermark { late[WindowKey(series: 0, device: record.device, start: start), default: 0] += 1 }
                    start -= slide
                }
            }
            check("record \(i)")
            if Int.random(in: 0 ..< 4, using: &rng) == 0 {
                h.endBatch()
                check("batch end after record \(i)")
            }
            if Int.random(in: 0 ..< 3, using: &rng) == 0 {
                h.advance(to: now)
                check("advance at \(now)")
            }
        }
        h.endBatch()
        check("last batch end")
        h.closeAll()
        check("closeAll")
        #expect(checked > 0)
    }
}
