// The numbers `tidemark run` publishes for Prometheus: per app records in/out/late/
// malformed and watermark lag, consumer lag, and how long after a window's end its result left.
import Foundation
import Synchronization

/// Counters of one app. Pipelines add a batch's counts at once, not per record.
public final class AppMetrics: Sendable {
    public let app: String
    public let recordsIn = Atomic<Int>(0)
    public let resultsOut = Atomic<Int>(0)
    public let triggersOut = Atomic<Int>(0)
    public let late = Atomic<Int>(0)
    public let malformed = Atomic<Int>(0)
    /// Wall-clock time minus the app's most advanced watermark, in milliseconds.
    public let watermarkLagMillis = Atomic<Int>(0)

    init(app: String) { self.app = app }
}

/// Every metric of one process, rendered in the Prometheus text format.
public final class MetricsRegistry: Sendable {
    private let apps = Mutex<[String: AppMetrics]>([:])
    private let consumerLag = Mutex<[String: Int]>([:])
    /// Upper bounds (seconds) of the emit-latency histogram: wall-clock time at
    /// emission minus the window's end.
    static let latencyBounds: [Double] = [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21600]
    private let latencyBuckets = Mutex<(counts: [Int], sum: Double, count: Int)>(([Int](repeating: 0, count: 10), 0, 0))

    public init() {}

    /// The counters of `app`, created on first use.
    public func app(_ name: String) -> AppMetrics {
        apps.withLock { table in
            if let existing = table[name] { return existing }
            let created = AppMetrics(app: name)
            table[name] = created
            return created
        }
    }

    /// Forgets an app that was removed.
    public func remove(app name: String) {
        _ = apps.withLock { $0.removeValue(forKey: name) }
    }

    /// Records the lag (high watermark minus position) of one partition.
    public func setConsumerLag(topic: String, partition: Int32, lag: Int) {
        consumerLag.withLock { $0["\(topic)\u{0}\(partition)"] = lag }
    }

    /// Records emit latencies, in milliseconds.
    public func observeEmitLatency(_ millis: some Sequence<Int64>) {
        latencyBuckets.withLock { histogram in
            for value in millis {
                let seconds = Double(value) / 1000
                for (index, bound) in Self.latencyBounds.enumerated() where seconds <= bound {
                    histogram.counts[index] += 1
                }
                histogram.sum += seconds
                histogram.count += 1
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String {
        var out = ""
        let apps = self.apps.withLock { $0.values.sorted { $0.app < $1.app } }
        func family(_ name: String, _ type: String, _ help: String, _ value: (AppMetrics) -> Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for app in apps { out += "\(name){app=\"\(escaped(app.app))\"} \(value(app))\n" }
        }
        family("tidemark_records_in_total", "counter", "Input records read by the app.") { $0.recordsIn.load(ordering: .relaxed) }
        family("tidemark_results_out_total", "counter", "Series results produced.") { $0.resultsOut.load(ordering: .relaxed) }
        family("tidemark_triggers_out_total", "counter", "Trigger events produced.") { $0.triggersOut.load(ordering: .relaxed) }
        family("tidemark_late_records_total", "counter", "Records too late for every window, sent to the late topic.") { $0.late.load(ordering: .relaxed) }
        family("tidemark_malformed_records_total", "counter", "Records that could not be read, sent to the late topic.") { $0.malformed.load(ordering: .relaxed) }
        family("tidemark_watermark_lag_milliseconds", "gauge", "Wall-clock time minus the app's most advanced watermark.") { $0.watermarkLagMillis.load(ordering: .relaxed) }

        out += "# HELP tidemark_consumer_lag_records Records between a partition's consumed position and its end.\n"
        out += "# TYPE tidemark_consumer_lag_records gauge\n"
        for (key, lag) in consumerLag.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}")
            out += "tidemark_consumer_lag_records{topic=\"\(escaped(String(parts[0])))\",partition=\"\(parts[1])\"} \(lag)\n"
        }

        let histogram = latencyBuckets.withLock { $0 }
        out += "# HELP tidemark_emit_latency_seconds Wall-clock time of emission minus the window's end.\n"
        out += "# TYPE tidemark_emit_latency_seconds histogram\n"
        for (index, bound) in Self.latencyBounds.enumerated() {
            out += "tidemark_emit_latency_seconds_bucket{le=\"\(bound)\"} \(histogram.counts[index])\n"
        }
        out += "tidemark_emit_latency_seconds_bucket{le=\"+Inf\"} \(histogram.count)\n"
        out += "tidemark_emit_latency_seconds_sum \(histogram.sum)\n"
        out += "tidemark_emit_latency_seconds_count \(histogram.count)\n"
        return out
    }

    private func escaped(_ label: String) -> String {
        label.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
