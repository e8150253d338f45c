// The fields a decoder extracts from each record: device, event time, numeric and string
// slots, each a field path. Built from an app definition.
import Streaming

/// The unit of a numeric event time (`input.time_unit`).
package enum EpochUnit: String, Sendable, Equatable {
    case seconds, milliseconds, microseconds
}

/// What `RecordDecoder` extracts from a message value.
package struct RecordSchema: Sendable, Equatable {
    /// The device id field; nil: the message key. Every field is named by its
    /// ``FieldPath`` spelling: `meta.id` is "id" inside "meta", `` `meta.id` `` the key
    /// "meta.id". A name that is no valid spelling is read as one top-level key.
    package var deviceField: String?
    /// The event-time field; nil: the message timestamp.
    package var timeField: String?
    /// The unit of a numeric event time; nil: >= 1e11 is milliseconds, smaller seconds,
    /// negative malformed.
    package var timeUnit: EpochUnit?
    /// Numeric fields by slot.
    package var numericFields: [String]
    /// Slots whose value must be a number or null; a string, object or array there makes the
    /// record malformed. Other numeric slots read non-numbers as null. Booleans read as 1 and 0.
    package var strictNumericSlots: Set<Int>
    /// String fields by slot.
    package var stringFields: [String]

    package init(
        deviceField: String?, timeField: String?, timeUnit: EpochUnit? = nil, numericFields: [String],
        strictNumericSlots: Set<Int> = [], stringFields: [String] = []
    ) {
        self.deviceField = deviceField
        self.timeField = timeField
        self.timeUnit = timeUnit
        self.numericFields = numericFields
        self.strictNumericSlots = strictNumericSlots
        self.stringFields = stringFields
    }

    /// The fields one app reads: aggregated fields are strict.
    package init(app: AppDefinition) {
        self.init(
            deviceField: app.input.deviceField, timeField: app.input.timeField, timeUnit: app.input.timeUnit,
            numericFields: app.numericFields, strictNumericSlots: app.aggregatedFieldSlots,
            stringFields: app.stringFields)
    }
}
