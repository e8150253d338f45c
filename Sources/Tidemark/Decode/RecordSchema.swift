// The fields a decoder extracts from each record: device, event time, numeric and string
// slots. Built from an app definition; a union of apps maps slots itself.

/// What `RecordDecoder` extracts from a message value.
package struct RecordSchema: Sendable, Equatable {
    /// The device id field; nil: the message key.
    package var deviceField: String?
    /// The event-time field; nil: the message timestamp.
    package var timeField: String?
    /// Numeric fields by slot (top-level keys, matched verbatim; `a.b` is the key "a.b").
    package var numericFields: [String]
    /// Slots whose value must be a number or null; a string, object or array there makes the
    /// record malformed. Other numeric slots read non-numbers as null. Booleans read as 1 and 0.
    package var strictNumericSlots: Set<Int>
    /// String fields by slot.
    package var stringFields: [String]

    package init(
        deviceField: String?, timeField: String?, numericFields: [String],
        strictNumericSlots: Set<Int> = [], stringFields: [String] = []
    ) {
        self.deviceField = deviceField
        self.timeField = timeField
        self.numericFields = numericFields
        self.strictNumericSlots = strictNumericSlots
        self.stringFields = stringFields
    }

    /// The fields one app reads: aggregated fields are strict.
    package init(app: AppDefinition) {
        self.init(
            deviceField: app.input.deviceField, timeField: app.input.timeField,
            numericFields: app.numericFields, strictNumericSlots: app.aggregatedFieldSlots,
            stringFields: app.stringFields)
    }
}
