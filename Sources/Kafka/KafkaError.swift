// The one error type of the Kafka module: a librdkafka error code with its
// name and message, plus the transaction flags of rd_kafka_error_t.
import CRdKafka

/// An error reported by librdkafka or by this wrapper.
///
/// `code` is librdkafka's `rd_kafka_resp_err_t` (negative values are
/// client-side errors such as `_TIMED_OUT`, positive ones come from the broker).
package struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// The librdkafka error code (`rd_kafka_resp_err_t`).
    package var code: Int32
    /// The symbolic name of the code, e.g. `"_PARTITION_EOF"` or `"NOT_LEADER_FOR_PARTITION"`.
    package var name: String
    /// A human readable message.
    package var message: String
    /// The configuration property at fault, for configuration errors.
    package var property: String?
    /// The operation may succeed if retried (transactional API).
    package var isRetriable: Bool
    /// The current transaction must be aborted (transactional API).
    package var requiresTransactionAbort: Bool
    /// The client instance is unusable and must be recreated.
    package var isFatal: Bool

    /// Creates an error for a librdkafka code; the message defaults to librdkafka's description.
    package init(code: Int32, message: String? = nil, property: String? = nil) {
        let err = rd_kafka_resp_err_t(rawValue: code)
        self.code = code
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
        self.property = property
        self.isRetriable = false
        self.requiresTransactionAbort = false
        self.isFatal = code == RD_KAFKA_RESP_ERR__FATAL.rawValue
    }

    package init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        self.init(code: err.rawValue, message: message)
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(code: rd_kafka_error_code(error).rawValue, message: String(cString: rd_kafka_error_string(error)))
        isRetriable = rd_kafka_error_is_retriable(error) != 0
        requiresTransactionAbort = rd_kafka_error_txn_requires_abort(error) != 0
        isFatal = rd_kafka_error_is_fatal(error) != 0
    }

    /// Another producer with the same transactional id took over: nothing this producer does
    /// can succeed any more, whatever librdkafka's flags say (2.0.2 reports a fence met while
    /// producing as merely abortable, and aborting then blocks).
    package var isFencing: Bool {
        [RD_KAFKA_RESP_ERR__FENCED.rawValue, RD_KAFKA_RESP_ERR_PRODUCER_FENCED.rawValue,
            RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH.rawValue].contains(code)
    }

    /// A textual description: name, code and message.
    package var description: String {
        let what = property.map { " (property \($0))" } ?? ""
        return "KafkaError \(name) (\(code))\(what): \(message)"
    }

    /// The partition has no more messages for now (only with `enable.partition.eof=true`).
    package static let partitionEOF = RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue
    /// An operation did not finish in time.
    package static let timedOut = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
    /// The producer's local queue is full; poll for delivery reports and retry.
    package static let queueFull = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
    /// The topic or partition does not exist.
    package static let unknownTopic = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
    /// The topic already exists (topic admin).
    package static let topicAlreadyExists = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    /// An invalid argument or configuration value.
    package static let invalidArgument = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
    /// The operation is not valid in the current state (e.g. partition not assigned).
    package static let invalidState = RD_KAFKA_RESP_ERR__STATE.rawValue
}

@inline(__always)
package func check(_ err: rd_kafka_resp_err_t, _ what: @autoclosure () -> String) throws(KafkaError) {
    if err != RD_KAFKA_RESP_ERR_NO_ERROR {
        throw KafkaError(err, message: "\(what()): \(String(cString: rd_kafka_err2str(err)))")
    }
}

@inline(__always)
package func check(_ error: OpaquePointer?) throws(KafkaError) {
    if let error { throw KafkaError(consuming: error) }
}

/// Milliseconds for librdkafka timeouts, clamped to Int32.
package func milliseconds(_ duration: Duration) -> Int32 {
    let (seconds, attoseconds) = duration.components
    let ms = seconds.multipliedReportingOverflow(by: 1000)
    if ms.overflow { return seconds < 0 ? 0 : Int32.max }
    return Int32(clamping: max(0, ms.partialValue + attoseconds / 1_000_000_000_000_000))
}
