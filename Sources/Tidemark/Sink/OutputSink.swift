// Where an app's output goes: Kafka topics for `tidemark run`, files for `tidemark batch`.
// The processor decides what to send; a sink only delivers.

/// Why an input record went to the late topic instead of a window.
package enum LateReason: Sendable, Equatable {
    /// Too late for every window it belongs to (`tidemark-reason: too-late`).
    case tooLate
    /// It could not be read (`tidemark-reason: malformed`, `tidemark-error: <message>`).
    case malformed(RecordDecodeFailure)
    /// Its event time is beyond what the engine represents (±2^60 ms): malformed too.
    case timeOutOfRange
    /// Its event time is more than `maxFuture` milliseconds ahead of the processing clock
    /// (`tidemark-reason: future`): a device clock that is wrong, which must not move the
    /// device's watermark and make its later, right readings too late.
    case future(maxFuture: Int64)

    /// The `tidemark-reason` header.
    package var reason: String {
        switch self {
        case .tooLate: "too-late"
        case .malformed, .timeOutOfRange: "malformed"
        case .future: "future"
        }
    }

    /// The `tidemark-error` header, nil for too-late records.
    package var error: String? {
        switch self {
        case .tooLate: nil
        case .malformed(let failure): failure.message
        case .timeOutOfRange: "event time is out of range"
        case .future(let maxFuture):
            "event time is more than \(DurationSyntax.text(milliseconds: maxFuture)) ahead of the processing clock (watermark.max_future)"
        }
    }
}

/// Receives the records an `AppProcessor` produces. The buffers are borrowed for the call.
package protocol OutputSink: AnyObject {
    /// A series result (keyed by its window) or a trigger event (keyed by its device).
    ///
    /// - Parameters:
    ///   - device: the device the record is about: its partition is the one Kafka's default
    ///     partitioner gives the device id, so all records of a device share one partition.
    ///   - windowEnd: for series results, the end of the window (for emit latency).
    func send(
        topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, device: UnsafeRawBufferPointer,
        windowEnd: Int64?)

    /// An input record, unchanged, that could not go into any window.
    func sendLate(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason)
}
