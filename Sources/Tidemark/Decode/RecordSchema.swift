// The fields a decoder extracts from each record: device, event time, numeric and string
// slots. Built from an app definition; a union of apps maps slots itself.

/// What `RecordDecoder` extracts from a message value.
public struct RecordSchema: Sendable, Equatable {
    /// The device id field; nil: the message key.
    public var deviceField: String?
    /// The event-time field; nil: the message timestamp.
    public var timeField: String?
    /// Numeric fields by slot (top-level keys, matched verbatim; `a.b` is the key "a.b").
    public var numericFields: [String]
    /// Slots whose value must be a number or null; a string, object or array there makes the
    /// record malformed. Other numeric slots read non-numbers as null. Booleans read as 1 and 0.
    public var strictNumericSlots: Set<Int>
    /// String fields by slot.
    public var stringFields: [String]

    public init(
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
    public init(app: AppDefinition) {
        self.init(
            deviceField: app.input.deviceField, timeField: app.input.timeField,
            numericFields: app.numericFields, strictNumericSlots: app.aggregatedFieldSlots,
            stringFields: app.stringFields)
    }
}
