// The numbers `tidemark run` publishes: per app records in/out/late/malformed and watermark
// lag, consumer lag, emit latency and failures. Recorded through swift-metrics into a
// Prometheus registry of the runtime's own (not the global one), so that several runtimes in
// one process (tests, the demo) each report their own.
import CoreMetrics
import Prometheus
import Synchronization

/// Every metric of one runtime.
package final class RuntimeMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let apps = Mutex<[String: AppMetrics]>([:])
    private let emitLatency: CoreMetrics.Timer
    /// Deliveries and produce calls that failed for good (each ends the process).
    private let deliveryFailures: CoreMetrics.Counter
    /// Errors the Kafka clients reported outside deliveries (broker down, …), retried by librdkafka.
    private let clientErrors: CoreMetrics.Counter
    /// App file errors found by reloads.
    private let appFileErrors: CoreMetrics.Counter
    private let restoredRecords: CoreMetrics.Counter
    private let restoredBytes: CoreMetrics.Counter
    private let restoredDevices: CoreMetrics.Counter
    private let restoringPartitions: CoreMetrics.Gauge
    private let catchingUpPartitions: CoreMetrics.Gauge
    private let changelogBytes: CoreMetrics.Counter
    private let checkpointDuration: CoreMetrics.Timer
    private let abortedTransactions: CoreMetrics.Counter
    /// Connections the metrics server closed on its own, by reason.
    private let httpConnectionsClosed: [HTTPConnectionClose: CoreMetrics.Counter]
    private let httpConnectionsOpen: CoreMetrics.Gauge

    /// Upper bounds of the emit-latency histogram: wall-clock time at emission minus the
    /// window's end, from sub-second (live) to six hours (backfills).
    static let latencyBuckets: [Duration] = [
        .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(60),
        .seconds(300), .seconds(1800), .seconds(3600), .seconds(21600),
    ]

    package init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["tidemark_emit_latency_seconds"] = Self.latencyBuckets
        factory.durationHistogramBuckets["tidemark_checkpoint_seconds"] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
        ]
        self.factory = factory
        emitLatency = CoreMetrics.Timer(label: "tidemark_emit_latency_seconds", factory: factory)
        deliveryFailures = CoreMetrics.Counter(label: "tidemark_delivery_failures_total", factory: factory)
        clientErrors = CoreMetrics.Counter(label: "tidemark_kafka_errors_total", factory: factory)
        appFileErrors = CoreMetrics.Counter(label: "tidemark_app_file_errors_total", factory: factory)
        restoredRecords = CoreMetrics.Counter(label: "tidemark_restored_records_total", factory: factory)
        restoredBytes = CoreMetrics.Counter(label: "tidemark_restored_bytes_total", factory: factory)
        restoredDevices = CoreMetrics.Counter(label: "tidemark_restored_devices_total", factory: factory)
        restoringPartitions = CoreMetrics.Gauge(label: "tidemark_restoring_partitions", factory: factory)
        catchingUpPartitions = CoreMetrics.Gauge(label: "tidemark_catching_up_partitions", factory: factory)
        changelogBytes = CoreMetrics.Counter(label: "tidemark_changelog_bytes_total", factory: factory)
        checkpointDuration = CoreMetrics.Timer(label: "tidemark_checkpoint_seconds", factory: factory)
        abortedTransactions = CoreMetrics.Counter(label: "tidemark_aborted_transactions_total", factory: factory)
        httpConnectionsClosed = Dictionary(
            uniqueKeysWithValues: HTTPConnectionClose.allCases.map { reason in
                (reason, CoreMetrics.Counter(label: "tidemark_http_connections_closed_total", dimensions: [("reason", reason.rawValue)], factory: factory))
            })
        httpConnectionsOpen = CoreMetrics.Gauge(label: "tidemark_http_connections_open", factory: factory)
    }

    /// The metrics of `app`, created on first use.
    package func app(_ name: String) -> AppMetrics {
        apps.withLock { table in
            if let existing = table[name] { return existing }
            let created = AppMetrics(app: name, factory: factory)
            table[name] = created
            return created
        }
    }

    /// Forgets an app that was removed: its series leave the exposition.
    package func remove(app name: String) {
        apps.withLock { $0.removeValue(forKey: name) }?.destroy()
    }

    /// Records the lag (high watermark minus position) of one input partition; NaN when it
    /// is unknown (no broker to ask), which Prometheus shows as such rather than as 0.
    package func setConsumerLag(topic: String, partition: Int32, lag: Double) {
        consumerLag(topic: topic, partition: partition).record(lag)
    }

    /// Forgets the lag of a partition this process no longer reads.
    package func removeConsumerLag(topic: String, partition: Int32) {
        consumerLag(topic: topic, partition: partition).destroy()
    }

    private func consumerLag(topic: String, partition: Int32) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(
            label: "tidemark_consumer_lag_records", dimensions: [("topic", topic), ("partition", String(partition))], factory: factory)
    }

    /// Counts what restores read: changelog records and bytes, and device states restored.
    package func countRestored(records: Int, bytes: Int, devices: Int) {
        if records > 0 { restoredRecords.increment(by: records) }
        if bytes > 0 { restoredBytes.increment(by: bytes) }
        if devices > 0 { restoredDevices.increment(by: devices) }
    }

    /// Sets the number of partitions waiting for a restore.
    package func setRestoring(partitions: Int) { restoringPartitions.record(partitions) }

    /// Sets the number of partitions some app's state catches up on (`input.start` in the past).
    package func setCatchingUp(partitions: Int) { catchingUpPartitions.record(partitions) }

    /// Counts changelog bytes produced (keys and values).
    package func countChangelogBytes(_ bytes: Int) {
        if bytes > 0 { changelogBytes.increment(by: bytes) }
    }

    /// Records how long a checkpoint took, from being taken to being acknowledged.
    package func observeCheckpoint(milliseconds: Int64) { checkpointDuration.recordMilliseconds(max(0, milliseconds)) }

    /// Counts input records that will never be read, by why: `offset_reset` (the position was
    /// out of range, as when retention overtook the consumer).
    package func countSkippedRecords(_ count: Int64, reason: String) {
        guard count > 0 else { return }
        CoreMetrics.Counter(label: "tidemark_records_skipped_total", dimensions: [("reason", reason)], factory: factory)
            .increment(by: count)
    }

    /// Counts a transaction aborted (exactly once), whose partitions start again from their changelogs.
    package func countAbortedTransaction() { abortedTransactions.increment() }

    /// Counts input records written to the repartition topic of `topic`.
    package func countRepartitioned(_ count: Int, topic: String) {
        CoreMetrics.Counter(label: "tidemark_repartitioned_records_total", dimensions: [("topic", topic)], factory: factory)
            .increment(by: count)
    }

    /// Counts app files a reload refused (each also logged with its file, line and column).
    package func countAppFileErrors(_ count: Int) {
        if count > 0 { appFileErrors.increment(by: count) }
    }

    /// Why the metrics server closed a connection of its own accord.
    package enum HTTPConnectionClose: String, Sendable, CaseIterable {
        /// Past the connection cap: refused, or the connection idle longest closed for it.
        case limit
        /// Nothing sent or received for the idle timeout.
        case idle
        /// A request head or body over its limit (431, 413).
        case tooLarge = "too_large"
        /// A request that is not HTTP (400).
        case badRequest = "bad_request"
    }

    /// Counts a connection the metrics server closed of its own accord.
    package func countHTTPConnectionClosed(_ reason: HTTPConnectionClose) { httpConnectionsClosed[reason]?.increment() }

    /// Sets the number of connections the metrics server holds open.
    package func setHTTPConnectionsOpen(_ count: Int) { httpConnectionsOpen.record(count) }

    /// Counts an output that could not be delivered (the process is about to exit).
    package func countDeliveryFailure() { deliveryFailures.increment() }

    /// Counts errors a Kafka client reported outside deliveries.
    package func countClientErrors(_ count: Int) {
        if count > 0 { clientErrors.increment(by: count) }
    }

    /// Records emit latencies, in milliseconds; a result emitted before its window's end
    /// (early results) counts as 0.
    package func observeEmitLatency(_ millis: some Sequence<Int64>) {
        for value in millis { emitLatency.recordMilliseconds(max(0, value)) }
    }

    /// The Prometheus text exposition of every metric.
    package func exposition() -> [UInt8] {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return bytes
    }
}

/// The metrics of one app. Pipelines add a batch's counts at once, not per record.
package final class AppMetrics: Sendable {
    private let recordsIn: CoreMetrics.Counter
    private let resultsOut: CoreMetrics.Counter
    private let triggersOut: CoreMetrics.Counter
    private let late: CoreMetrics.Counter
    private let malformed: CoreMetrics.Counter
    private let future: CoreMetrics.Counter
    private let notKeyedByDevice: CoreMetrics.Counter
    /// Wall-clock time minus the app's most advanced watermark, in milliseconds.
    private let watermarkLag: CoreMetrics.Gauge
    /// Input records the app has processed that no checkpoint of its state covers yet: what
    /// a crash now would make it read again.
    private let changelogLag: CoreMetrics.Gauge

    init(app: String, factory: PrometheusMetricsFactory) {
        let dimensions = [("app", app)]
        recordsIn = CoreMetrics.Counter(label: "tidemark_records_in_total", dimensions: dimensions, factory: factory)
        resultsOut = CoreMetrics.Counter(label: "tidemark_results_out_total", dimensions: dimensions, factory: factory)
        triggersOut = CoreMetrics.Counter(label: "tidemark_triggers_out_total", dimensions: dimensions, factory: factory)
        late = CoreMetrics.Counter(label: "tidemark_late_records_total", dimensions: dimensions, factory: factory)
        malformed = CoreMetrics.Counter(label: "tidemark_malformed_records_total", dimensions: dimensions, factory: factory)
        future = CoreMetrics.Counter(label: "tidemark_future_records_total", dimensions: dimensions, factory: factory)
        notKeyedByDevice = CoreMetrics.Counter(label: "tidemark_records_not_keyed_by_device_total", dimensions: dimensions, factory: factory)
        watermarkLag = CoreMetrics.Gauge(label: "tidemark_watermark_lag_milliseconds", dimensions: dimensions, factory: factory)
        changelogLag = CoreMetrics.Gauge(label: "tidemark_changelog_lag_records", dimensions: dimensions, factory: factory)
        // Unknown until the app has a watermark: not a made-up 0.
        watermarkLag.record(Double.nan)
    }

    /// Adds what the app counted since the last call.
    func add(_ counts: AppCounts) {
        if counts.recordsIn > 0 { recordsIn.increment(by: counts.recordsIn) }
        if counts.resultsOut > 0 { resultsOut.increment(by: counts.resultsOut) }
        if counts.triggersOut > 0 { triggersOut.increment(by: counts.triggersOut) }
        if counts.late > 0 { late.increment(by: counts.late) }
        if counts.malformed > 0 { malformed.increment(by: counts.malformed) }
        if counts.future > 0 { future.increment(by: counts.future) }
        if counts.notKeyedByDevice > 0 { notKeyedByDevice.increment(by: counts.notKeyedByDevice) }
    }

    /// Records wall-clock time minus the app's most advanced watermark.
    func setWatermarkLag(milliseconds: Int64) { watermarkLag.record(milliseconds) }

    func setChangelogLag(records: Int64) { changelogLag.record(records) }

    fileprivate func destroy() {
        for counter in [recordsIn, resultsOut, triggersOut, late, malformed, future] { counter.destroy() }
        watermarkLag.destroy()
        changelogLag.destroy()
    }
}
