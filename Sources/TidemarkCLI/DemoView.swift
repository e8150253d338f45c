// The demo's live view: reads the output topics and redraws a summary every second:
// results per series by timing (early, on time, late: revisions caused by late data),
// triggers, late records, and the latest of each.
import Foundation
import Kafka
import ServiceLifecycle
import Tidemark

/// The view as a service: reads and redraws until shut down (or for a set duration, then it
/// ends, which shuts the demo down), and draws a last frame after.
final class DemoView: Service {
    private let brokers: String
    private let topics: [String]
    private let duration: Duration?
    private let runtime: TidemarkRuntime
    private let simulator: DemoSimulator

    init(brokers: String, topics: [String], duration: Duration?, runtime: TidemarkRuntime, simulator: DemoSimulator) {
        self.brokers = brokers
        self.topics = topics
        self.duration = duration
        self.runtime = runtime
        self.simulator = simulator
    }

    func run() async throws {
        try await runOnDedicatedThreadUntilShutdown(name: "tidemark-demo-view") { [self] stop in
            let board = try Scoreboard(brokers: brokers, topics: topics)
            defer { board.close() }
            let started = ContinuousClock.now
            var lastDraw = ContinuousClock.now - .seconds(1)
            while !stop.isRequested {
                if let duration, ContinuousClock.now - started >= duration { break }
                board.read(for: .milliseconds(200))
                if ContinuousClock.now - lastDraw >= .seconds(1) {
                    lastDraw = .now
                    board.draw(readingsSent: simulator.sent, readingsConsumed: runtime.recordsConsumed, bootstrap: brokers)
                }
            }
            board.draw(readingsSent: simulator.sent, readingsConsumed: runtime.recordsConsumed, bootstrap: brokers)
        }
    }
}

/// What the view has read from the output topics so far, and how it is drawn.
private final class Scoreboard {
    private let consumer: KafkaConsumer
    /// Per series, its results by timing: early (provisional), on time (one per window), late.
    private var results: [String: (early: Int, onTime: Int, late: Int)] = [:]
    private var triggers: [String: Int] = [:]
    private var late: [String: Int] = [:]
    private var latestRevisions: [String] = []
    private var latestTriggers: [String] = []
    private let interactive = isatty(STDOUT_FILENO) != 0

    init(brokers: String, topics: [String]) throws {
        consumer = try KafkaConsumer(config: [
            "bootstrap.servers": brokers, "group.id": "tidemark-demo-view", "auto.offset.reset": "earliest",
            "enable.auto.commit": "false", "log_level": "3",
        ])
        try consumer.subscribe(topics: topics)
    }

    func close() { try? consumer.close() }

    /// Reads what arrived for up to `duration`.
    func read(for duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            guard let poll = try? consumer.poll(timeout: .milliseconds(50), maxMessages: 4096) else { return }
            for message in poll.messages {
                if let reason = message.header("tidemark-reason") {
                    late["\(message.topic) (\(reason.string))", default: 0] += 1
                    continue
                }
                guard let value = message.value,
                    let record = try? JSONSerialization.jsonObject(with: Data(value.array)) as? [String: Any],
                    let app = record["app"] as? String
                else { continue }
                if let trigger = record["trigger"] as? String {
                    triggers["\(app)/\(trigger)", default: 0] += 1
                    remember(&latestTriggers, "\(trigger) \(record["device"] ?? "") at \(clock(record["time"])): \(compact(record["value"]))")
                } else if let series = record["series"] as? String {
                    let revision = record["revision"] as? Int ?? 0
                    var tally = results["\(app)/\(series)", default: (0, 0, 0)]
                    switch record["timing"] as? String {
                    case "early": tally.early += 1
                    case "late":
                        tally.late += 1
                        remember(&latestRevisions, "\(series) \(record["device"] ?? "") \(clock(record["start"]))–\(clock(record["end"])) revision \(revision): \(aggregates(record))")
                    default: tally.onTime += 1
                    }
                    results["\(app)/\(series)"] = tally
                }
            }
        }
    }

    func draw(readingsSent: Int, readingsConsumed: Int, bootstrap: String) {
        var lines: [String] = []
        lines.append("Tidemark demo: embedded broker \(bootstrap); Ctrl-C stops")
        lines.append("readings sent \(readingsSent), read by tidemark \(readingsConsumed)")
        lines.append("")
        lines.append("results                                     early   on time   late (revisions after close)")
        for (name, tally) in results.sorted(by: { $0.key < $1.key }) {
            lines.append(
                pad(name, 40) + pad(String(tally.early), 10, left: true) + pad(String(tally.onTime), 10, left: true)
                    + pad(String(tally.late), 7, left: true))
        }
        lines.append("")
        lines.append("triggers: " + (triggers.isEmpty ? "none yet" : triggers.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        lines.append("late topics: " + (late.isEmpty ? "nothing" : late.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        lines.append("")
        lines.append("latest late revisions:")
        lines += latestRevisions.map { "  " + $0 }
        lines.append("latest triggers:")
        lines += latestTriggers.map { "  " + $0 }
        let text = lines.joined(separator: "\n") + "\n"
        // On a terminal, redraw in place; in a pipe, print each frame once.
        print(interactive ? "\u{1B}[H\u{1B}[2J" + text : text + "---", terminator: interactive ? "" : "\n")
        fflush(nil)
    }

    private func remember(_ list: inout [String], _ line: String) {
        list.append(line)
        if list.count > 5 { list.removeFirst() }
    }

    private func aggregates(_ record: [String: Any]) -> String {
        let fixed: Set = ["app", "series", "device", "start", "end", "revision", "timing"]
        return record.filter { !fixed.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key) \(compact($0.value))" }.joined(separator: ", ")
    }

    private func compact(_ value: Any?) -> String {
        switch value {
        case let number as Double:
            return number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(format: "%.1f", number)
        case let object as [String: Any]: return object.sorted { $0.key < $1.key }.map { "\($0.key) \(compact($0.value))" }.joined(separator: ", ")
        case let value?: return "\(value)"
        case nil: return "null"
        }
    }

    private func clock(_ millis: Any?) -> String {
        guard let millis = millis as? Int else { return "?" }
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    private func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return left ? padding + text : text + padding
    }
}
