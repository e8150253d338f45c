// Synthetic device readings that arrive the way real IoT devices send them: late by
// seconds, minutes or hours. Deterministic for a seed and a start time.
import Foundation


/// How readings are delayed between being taken and being sent.
package enum DelayProfile: String, Sendable, CaseIterable {
    /// Every reading is sent the moment it is taken.
    case none
    /// A mix of connected, duty-cycled and intermittently connected devices.
    case realistic
}

/// One reading as the simulator sends it.
package struct SimulatedReading: Sendable, Equatable {
    /// Index of the device, `0..<devices`.
    package var device: Int
    /// When the reading was taken (epoch milliseconds): its event time.
    package var eventTime: Int64
    /// When the device sends it (simulated epoch milliseconds).
    package var sendTime: Int64
    /// Tenths of a degree Celsius, kept integral so the JSON text is exact.
    package var temperatureTenths: Int
    /// Tenths of a percent.
    package var humidityTenths: Int

    package init(device: Int, eventTime: Int64, sendTime: Int64, temperatureTenths: Int, humidityTenths: Int) {
        self.device = device
        self.eventTime = eventTime
        self.sendTime = sendTime
        self.temperatureTenths = temperatureTenths
        self.humidityTenths = humidityTenths
    }
}

/// Generates readings in send order.
///
/// Every device takes a reading in turn, `rate` readings per simulated second in all.
/// Under `.realistic` delays each device has one behaviour, chosen by the seed:
/// - connected (70%): most readings arrive within 200 ms, one in ten is held up
///   by network congestion for 1 to 15 seconds;
/// - duty-cycled (20%): readings are buffered and flushed in order every 5 minutes;
/// - intermittent (10%): connected, but offline for 20 minutes to 2 hours once in
///   every 4 hours; on reconnecting it sends live readings again at once while the
///   backlog follows in order, one reading every 50 ms.
/// About one reading in 500 is faulty: a sensor stuck far out of range.
package struct ReadingSimulator: Sendable {
    package let devices: Int
    package let start: Int64
    package let delays: DelayProfile
    private let seed: UInt64
    private let tickMillis: Double
    private var tick: Int64 = 0
    private var random: SplitMix64
    private var pending = SendQueue()
    /// Per device: where the backlog after its current outage stands.
    private var backlogSendTime: [Int64]

    static let dutyCycle: Int64 = 5 * 60_000
    static let outageCycle: Int64 = 4 * 3_600_000
    static let backfillSpacing: Int64 = 50

    /// - Parameters:
    ///   - rate: readings per simulated second, all devices together.
    ///   - start: event time of the first reading (epoch milliseconds).
    package init(devices: Int, rate: Double, start: Int64, seed: UInt64, delays: DelayProfile) {
        precondition(devices > 0 && rate > 0)
        self.devices = devices
        self.start = start
        self.delays = delays
        self.seed = seed
        self.tickMillis = 1000 / rate
        self.random = SplitMix64(seed: seed)
        self.backlogSendTime = Array(repeating: 0, count: devices)
    }

    /// The name a device reports itself by.
    package static func deviceName(_ device: Int) -> String {
        let digits = String(device)
        return "dev-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The next reading in send order.
    package mutating func next() -> SimulatedReading {
        // A pending reading may go once the generator's clock has passed its send time:
        // every reading taken from now on is sent no earlier than it is taken.
        while pending.isEmpty || pending.earliestSendTime > currentEventTime {
            generate()
        }
        return pending.removeEarliest()
    }

    private var currentEventTime: Int64 { start + Int64((Double(tick) * tickMillis).rounded(.down)) }

    private mutating func generate() {
        let time = currentEventTime
        let device = Int(tick % Int64(devices))
        tick += 1
        var reading = SimulatedReading(
            device: device, eventTime: time, sendTime: time,
            temperatureTenths: temperatureTenths(device: device, at: time),
            humidityTenths: 350 + Int(mix(UInt64(device), 7) % 200) + Int(random.next() % 41) - 20)
        if random.next() % 500 == 0 {
            reading.temperatureTenths = random.next() % 2 == 0 ? 850 : -400
        }
        reading.sendTime = sendTime(device: device, takenAt: time)
        pending.insert(reading)
    }

    /// A per-device baseline, a daily cycle and a little noise.
    private mutating func temperatureTenths(device: Int, at time: Int64) -> Int {
        let baseline = 190 + Double(mix(UInt64(device), 1) % 50)
        let phase = Double(mix(UInt64(device), 2) % 1000) / 1000 * 2 * Double.pi
        let day = Double(time % 86_400_000) / 86_400_000 * 2 * Double.pi
        let noise = Double(Int(random.next() % 7) - 3)
        return Int((baseline + 30 * sin(day + phase) + noise).rounded())
    }

    private mutating func sendTime(device: Int, takenAt time: Int64) -> Int64 {
        guard delays == .realistic else { return time }
        switch mix(UInt64(device), 3) % 10 {
        case 0..<7:
            return time + congestionDelay()
        case 7..<9:
            let phase = Int64(mix(UInt64(device), 4) % UInt64(Self.dutyCycle))
            let cycles = (time - phase + Self.dutyCycle - 1) / Self.dutyCycle
            return max(time, cycles * Self.dutyCycle + phase)
        default:
            guard let reconnect = outageEnd(device: device, covering: time) else {
                return time + congestionDelay()
            }
            let sendAt = max(reconnect, backlogSendTime[device] + Self.backfillSpacing)
            backlogSendTime[device] = sendAt
            return sendAt
        }
    }

    private mutating func congestionDelay() -> Int64 {
        if random.next() % 10 == 0 { return 1000 + Int64(random.next() % 14_000) }
        return Int64(random.next() % 200)
    }

    /// When the outage covering `time` ends, if the device is offline then.
    private func outageEnd(device: Int, covering time: Int64) -> Int64? {
        let cycle = time.floorDivided(by: Self.outageCycle)
        let h = mix(UInt64(device) &* 0x9E37_79B9 &+ UInt64(bitPattern: cycle), 5)
        let length = 20 * 60_000 + Int64(h % UInt64(100 * 60_000))
        let begin = cycle * Self.outageCycle + Int64((h >> 32) % UInt64(Self.outageCycle - length))
        return time >= begin && time < begin + length ? begin + length : nil
    }

    private func mix(_ value: UInt64, _ salt: UInt64) -> UInt64 {
        var state = SplitMix64(seed: seed ^ (value &* 0xD6E8_FEB8_6659_FD93) ^ (salt &* 0x9E37_79B9_7F4A_7C15))
        return state.next()
    }

    /// Appends the reading as the JSON object devices send:
    /// `{"device":"dev-000017","ts":1764288012345,"temperature":21.4,"humidity":40.1}`.
    package static func appendJSON(_ reading: SimulatedReading, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: #"{"device":""#.utf8)
        buffer.append(contentsOf: deviceName(reading.device).utf8)
        buffer.append(contentsOf: #"","ts":"#.utf8)
        buffer.append(contentsOf: String(reading.eventTime).utf8)
        buffer.append(contentsOf: #","temperature":"#.utf8)
        appendTenths(reading.temperatureTenths, to: &buffer)
        buffer.append(contentsOf: #","humidity":"#.utf8)
        appendTenths(reading.humidityTenths, to: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    private static func appendTenths(_ tenths: Int, to buffer: inout [UInt8]) {
        if tenths < 0 { buffer.append(UInt8(ascii: "-")) }
        let magnitude = tenths.magnitude
        buffer.append(contentsOf: String(magnitude / 10).utf8)
        buffer.append(UInt8(ascii: "."))
        buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor < 0) ? q - 1 : q
    }
}

/// The small, fast, seedable generator everyone uses for reproducible streams.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Readings waiting to be sent, earliest send time first (ties: the order they were taken).
private struct SendQueue: Sendable {
    private var heap: [(reading: SimulatedReading, sequence: Int64)] = []
    private var sequence: Int64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var earliestSendTime: Int64 { heap[0].reading.sendTime }

    private func before(_ a: Int, _ b: Int) -> Bool {
        let x = heap[a], y = heap[b]
        return (x.reading.sendTime, x.sequence) < (y.reading.sendTime, y.sequence)
    }

    mutating func insert(_ reading: SimulatedReading) {
        heap.append((reading, sequence))
        sequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeEarliest() -> SimulatedReading {
        let earliest = heap[0].reading
        let last = heap.removeLast()
        guard !heap.isEmpty else { return earliest }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < heap.count && before(left, first) { first = left }
            if right < heap.count && before(right, first) { first = right }
            if first == parent { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return earliest
    }
}
