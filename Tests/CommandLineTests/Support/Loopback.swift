// Metrics of `tidemark run` as the tests read them, over TidemarkTestSupport's loopback HTTP.
import TidemarkTestSupport

/// The value of one Prometheus sample, e.g. `tidemark_records_in_total{app="e2e"}`.
func metric(_ sample: String, in exposition: String) -> Int? {
    metricValue(sample, in: exposition).map { Int($0) }
}

/// The current `tidemark_records_in_total` of `app`, or nil if /metrics does not answer or lacks it.
func recordsInMetric(app: String, metricsPort: Int) -> Int? {
    httpGet(port: metricsPort, path: "/metrics").flatMap { metric("tidemark_records_in_total{app=\"\(app)\"}", in: $0.body) }
}
