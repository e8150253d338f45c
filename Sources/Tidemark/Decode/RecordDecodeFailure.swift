// Why a record could not be read. A plain enum with static messages, so rejecting a
// malformed record on the hot path allocates nothing.

/// The reason a message value is not a usable record. Such records go to the app's late
/// topic with `tidemark-reason: malformed` and `tidemark-error: <message>`.
package enum RecordDecodeFailure: UInt8, Error, Sendable, Equatable, CaseIterable {
    /// Larger than the decoder's `maxBytes`.
    case oversized
    /// Empty value (a tombstone) or not valid JSON.
    case notJSON
    /// Valid JSON, but not an object at the top level.
    case notAnObject
    /// A string (or the value as a whole) is not valid UTF-8.
    case invalidUTF8
    /// Nesting deeper than the decoder follows.
    case tooDeep
    /// No device id: the device field is missing, null or empty (or the key is, when the
    /// device comes from the message key).
    case missingDevice
    /// The device field is neither a string nor a number.
    case invalidDevice
    /// No event time: the time field is missing or null (or the message has no timestamp).
    case missingTime
    /// The time field is not a number of epoch (milli)seconds nor an RFC 3339 string.
    case invalidTime
    /// The time field is a negative number and the app has no `input.time_unit`: its
    /// magnitude cannot tell seconds from milliseconds.
    case negativeTime
    /// A field an aggregate reads holds a string, object or array instead of a number.
    case wrongFieldType
    /// A number too large for a double (`1e999`), anywhere in the record: no result could
    /// carry it, and `null` or an infinity would say something the reading did not.
    case numberOutOfRange
    /// A record of a repartition topic without the origin Tidemark writes before the value
    /// (written there by something else).
    case notRepartitioned

    /// Whether the failure concerns one member's value, which a later member of the same key
    /// replaces (the last value wins), rather than the text of the record.
    var isMemberValue: Bool {
        switch self {
        case .missingDevice, .invalidDevice, .missingTime, .invalidTime, .negativeTime, .wrongFieldType: true
        case .oversized, .notJSON, .notAnObject, .invalidUTF8, .tooDeep, .numberOutOfRange, .notRepartitioned: false
        }
    }

    /// A short human-readable reason; the `tidemark-error` header.
    package var message: String {
        switch self {
        case .oversized: "record too large"
        case .notJSON: "not valid JSON"
        case .notAnObject: "not a JSON object"
        case .invalidUTF8: "invalid UTF-8"
        case .tooDeep: "JSON nested too deeply"
        case .missingDevice: "missing device id"
        case .invalidDevice: "device id is not a string or number"
        case .missingTime: "missing event time"
        case .invalidTime: "event time is not epoch seconds, epoch milliseconds or RFC 3339"
        case .negativeTime: "negative epoch time: set input.time_unit to say its unit"
        case .wrongFieldType: "an aggregated field is not a number"
        case .numberOutOfRange: "number out of range"
        case .notRepartitioned: "not a record tidemark repartitioned (no origin before the value)"
        }
    }
}
