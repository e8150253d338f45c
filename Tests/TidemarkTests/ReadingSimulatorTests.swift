// The simulator's promises: reproducible for a seed, sent in send order, and late
// in the three ways devices are late.
import Testing
import Tidemark

@Suite struct ReadingSimulatorTests {
    static let start: Int64 = 1_764_288_000_000

    func take(_ n: Int, devices: Int = 100, rate: Double = 100, seed: UInt64 = 7, delays: DelayProfile) -> [SimulatedReading] {
        var simulator = ReadingSimulator(devices: devices, rate: rate, start: Self.start, seed: seed, delays: delays)
        return (0..<n).map { _ in simulator.next() }
    }

    @Test func sameSeedSameReadings() {
        #expect(take(5000, delays: .realistic) == take(5000, delays: .realistic))
        #expect(take(5000, delays: .realistic) != take(5000, seed: 8, delays: .realistic))
    }

    @Test func withoutDelaysReadingsArriveAsTaken() {
        let readings = take(300, delays: .none)
        #expect(readings.map(\.eventTime) == (0..<300).map { Self.start + Int64($0) * 10 })
        #expect(readings.map(\.device) == (0..<300).map { $0 % 100 })
        #expect(readings.allSatisfy { $0.sendTime == $0.eventTime })
    }

    @Test func realisticDelaysSpanSecondsMinutesAndHours() {
        // 100 devices, one reading each every 10 seconds, for 10 simulated hours.
        let readings = take(360_000, rate: 10, delays: .realistic)
        #expect(zip(readings, readings.dropFirst()).allSatisfy { $0.sendTime <= $1.sendTime })
        #expect(readings.allSatisfy { $0.sendTime >= $0.eventTime })
        let delays = readings.map { $0.sendTime - $0.eventTime }
        #expect(delays.contains { $0 >= 1000 && $0 < 15_000 })
        #expect(delays.contains { $0 >= 60_000 && $0 < 300_000 })
        #expect(delays.contains { $0 >= 3_600_000 })
        #expect(delays.allSatisfy { $0 < 3 * 3_600_000 })
        let faulty = readings.filter { $0.temperatureTenths == 850 || $0.temperatureTenths == -400 }
        #expect(faulty.count > 360_000 / 1000 && faulty.count < 360_000 / 250)
    }

    @Test func readingsAreTheJSONDevicesSend() {
        var buffer: [UInt8] = []
        ReadingSimulator.appendJSON(
            SimulatedReading(device: 17, eventTime: Self.start + 12_345, sendTime: 0, temperatureTenths: -35, humidityTenths: 401),
            to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self)
            == #"{"device":"dev-000017","ts":1764288012345,"temperature":-3.5,"humidity":40.1}"#)
    }
}
