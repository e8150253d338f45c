// Sends apps' outputs to Kafka through one lane's producer, with a delivery token per
// record so the lane knows which input offsets are safe to commit.
import Kafka
import Logging

/// The Kafka side of an `OutputSink`: results, trigger events and late records.
final class KafkaOutputSink: OutputSink {
    let producer: KafkaProducer
    private(set) var ledger = DeliveryLedger()
    /// Processing time of the batch being processed (for emit latency).
    var now: Int64 = 0
    /// Emit latencies (milliseconds) since the last `takeLatencies`, bounded.
    private var latencies: [Int64] = []
    private let logger: Logger

    init(producer: KafkaProducer, logger: Logger) {
        self.producer = producer
        self.logger = logger
        latencies.reserveCapacity(4096)
    }

    var lastIssuedToken: UInt64 { ledger.issued }

    func send(topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, windowEnd: Int64?) {
        let token = ledger.issue()
        do {
            try producer.send(topic: topic, key: key, value: value, token: token)
        } catch {
            refused(token, topic: topic, error)
        }
        if let windowEnd, latencies.count < 4096 { latencies.append(now - windowEnd) }
    }

    func sendLate(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason) {
        let token = ledger.issue()
        var headers = [KafkaOutgoingHeader(name: "tidemark-reason", text: reason.reason)]
        if let error = reason.error { headers.append(KafkaOutgoingHeader(name: "tidemark-error", text: error)) }
        do {
            try producer.send(topic: topic, key: key, value: value, headers: headers, token: token)
        } catch {
            refused(token, topic: topic, error)
        }
    }

    /// Serves the producer and settles the delivery reports that arrived.
    func serveDeliveries(timeout: Duration = .zero) {
        producer.poll(timeout: timeout) { report in
            if let error = report.error {
                logger.error(
                    "delivery failed: input offsets after it will not be committed; restart to reprocess",
                    metadata: ["error": "\(error)"])
            }
            ledger.settle(report.token, succeeded: report.error == nil)
        }
    }

    /// Waits until every record sent so far is acknowledged (or `timeout` passes).
    func flush(timeout: Duration) {
        do {
            try producer.flush(timeout: timeout)
        } catch {
            logger.warning("producer flush incomplete", metadata: ["error": "\(error)", "in-flight": "\(ledger.inFlight)"])
        }
        serveDeliveries()
    }

    func takeLatencies() -> [Int64] {
        defer { latencies.removeAll(keepingCapacity: true) }
        return latencies
    }

    private func refused(_ token: UInt64, topic: String, _ error: KafkaError) {
        logger.error("cannot produce", metadata: ["topic": "\(topic)", "error": "\(error)"])
        ledger.settle(token, succeeded: false)
    }
}
