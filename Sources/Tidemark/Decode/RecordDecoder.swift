// The hot-path JSON record decoder: one pass over a top-level object, extracting only the
// schema's fields into reusable buffers, validating syntax and UTF-8, allocating nothing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Streaming

/// Decodes message values into device, event time and field slots.
///
/// One decoder serves one schema and is reused for every record; after a successful
/// `decode`, `device`, `time`, `numbers`, the string slots and (when collected)
/// `otherMembers` describe that record until the next call. Nothing is allocated per record
/// once the buffers have grown.
///
/// Event time from a field: a JSON number >= 1e11 is epoch milliseconds (a fraction is
/// truncated), a smaller number is epoch seconds (a fraction gives milliseconds, truncated),
/// a string is RFC 3339 (`Z` or `±hh:mm`, optional fractional seconds, `T`, `t` or space
/// between date and time). A device id may be a JSON string or number; a number is kept as
/// its text (`17` is the device "17").
///
/// Of members sharing a key, the last one wins, for the device, the time and every field
/// (a null among them included); a problem with an earlier member's value does not count
/// when a later member replaces it. A number too large for a double anywhere makes the
/// record malformed.
package struct RecordDecoder: Sendable {
    package let schema: RecordSchema
    /// Records larger than this are rejected as `.oversized` (default 1 MiB).
    package var maxBytes: Int

    /// The record's device id, UTF-8, unescaped.
    package private(set) var device: [UInt8] = []
    /// The record's event time, epoch milliseconds.
    package private(set) var time: Int64 = 0
    /// Numeric field values by slot; NaN for missing, null or (for non-strict slots) non-numbers.
    package private(set) var numbers: [Double]
    /// Byte ranges in the value of every top-level member (`"key":value`) other than the
    /// device and time fields, in record order, for trigger events to copy verbatim.
    /// Always empty unless the decoder was made with `collectsOtherMembers`.
    package private(set) var otherMembers: [Range<Int>] = []
    /// Whether `decode` fills `otherMembers` (only record triggers need them).
    package let collectsOtherMembers: Bool

    // String slots: start offset in the value (or in `stringScratch` when unescaped), -1 if absent.
    private var stringStart: [Int]
    private var stringCount: [Int]
    private var stringInScratch: [Bool]
    private var stringScratch: [UInt8] = []
    private var keyScratch: [UInt8] = []
    /// Problems with a member's value (schema key index, failure) that a later member of the
    /// same key may still replace; the record is malformed if any is left at the end.
    private var pendingFailures: [(key: Int, failure: RecordDecodeFailure)] = []

    // The schema's keys, flattened for the member loop.
    private let keyBytes: [[UInt8]]
    private let keys: SchemaKeys

    /// A schema key as the member loop compares it: the length and the first sixteen bytes
    /// in words, so a member is matched or rejected by integer compares without touching
    /// another array (keys longer than sixteen bytes compare the rest with memcmp).
    private struct SchemaKey: Sendable {
        var length: Int
        /// Bytes 0..<8 and 8..<16, little-endian, zero-padded.
        var head: UInt64
        var tail: UInt64
        var role: KeyRole
    }

    /// The schema keys in memory of their own: the member loop reads them through a pointer,
    /// with no reference count per record and no access overlapping the decoder's.
    private final class SchemaKeys: @unchecked Sendable {
        // @unchecked Sendable: the memory is written once, in init, and only read after.
        let buffer: UnsafeMutableBufferPointer<SchemaKey>

        init(_ keys: [SchemaKey]) {
            buffer = .allocate(capacity: keys.count)
            _ = buffer.initialize(from: keys)
        }

        deinit { buffer.deallocate() }
    }

    private struct KeyRole: Sendable {
        var isDevice = false
        var isTime = false
        var numberSlot = -1
        var strictNumber = false
        var stringSlot = -1
    }

    /// Deepest nesting followed inside a record before it is rejected.
    static let maxDepth = 64

    /// Creates a decoder for `schema`.
    ///
    /// - Parameters:
    ///   - maxBytes: the largest record accepted.
    ///   - collectsOtherMembers: fill `otherMembers` on each decode (for record triggers,
    ///     whose events copy the record's members); off, the member loop skips that work.
    package init(schema: RecordSchema, maxBytes: Int = 1 << 20, collectsOtherMembers: Bool = false) {
        self.schema = schema
        self.maxBytes = maxBytes
        self.collectsOtherMembers = collectsOtherMembers
        numbers = Array(repeating: .nan, count: schema.numericFields.count)
        stringStart = Array(repeating: -1, count: schema.stringFields.count)
        stringCount = Array(repeating: 0, count: schema.stringFields.count)
        stringInScratch = Array(repeating: false, count: schema.stringFields.count)
        var roles: [String: KeyRole] = [:]
        var order: [String] = []
        func role(_ name: String, _ update: (inout KeyRole) -> Void) {
            if roles[name] == nil { order.append(name) }
            update(&roles[name, default: KeyRole()])
        }
        if let field = schema.deviceField { role(field) { $0.isDevice = true } }
        if let field = schema.timeField { role(field) { $0.isTime = true } }
        for (slot, field) in schema.numericFields.enumerated() {
            role(field) {
                $0.numberSlot = slot
                $0.strictNumber = schema.strictNumericSlots.contains(slot)
            }
        }
        for (slot, field) in schema.stringFields.enumerated() { role(field) { $0.stringSlot = slot } }
        keyBytes = order.map { Array($0.utf8) }
        keys = SchemaKeys(
            zip(keyBytes, order).map { bytes, name in
                SchemaKey(
                    length: bytes.count, head: Self.word(bytes.prefix(8)), tail: Self.word(bytes.dropFirst(8).prefix(8)),
                    role: roles[name]!)
            })
    }

    private static func word(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var word: UInt64 = 0
        for (offset, byte) in bytes.enumerated() { word |= UInt64(byte) << (8 * offset) }
        return word
    }

    /// Decodes one message.
    ///
    /// - Parameters:
    ///   - value: the message value.
    ///   - key: the message key, the device id when the schema has no device field.
    ///   - timestamp: the message timestamp (epoch ms), the event time when the schema has
    ///     no time field.
    /// - Returns: nil on success, else why the record is malformed.
    package mutating func decode(
        value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil, timestamp: Int64? = nil
    ) -> RecordDecodeFailure? {
        guard value.count <= maxBytes else { return .oversized }
        guard let base = value.baseAddress, value.count > 0 else { return .notJSON }
        reset()
        var sawDevice = false
        var sawTime = false
        if schema.deviceField == nil {
            guard let key, key.count > 0 else { return .missingDevice }
            device.append(contentsOf: key)
            sawDevice = true
        }
        if schema.timeField == nil {
            guard let timestamp else { return .missingTime }
            time = timestamp
            sawTime = true
        }
        var cursor = JSONCursor(base: base.assumingMemoryBound(to: UInt8.self), count: value.count)
        // The member loop writes numbers through a buffer pointer (no uniqueness check per
        // write); swapping the array out lends it without a copy or an overlapping access.
        var numbers: [Double] = []
        swap(&numbers, &self.numbers)
        defer { swap(&numbers, &self.numbers) }
        let keys = UnsafeBufferPointer(self.keys.buffer)
        let failure = numbers.withUnsafeMutableBufferPointer { numbers in
            for slot in numbers.indices { numbers[slot] = .nan }
            return decodeObject(&cursor, keys: keys, numbers: numbers, sawDevice: &sawDevice, sawTime: &sawTime)
        }
        if let failure { return failure }
        cursor.skipWhitespace()
        guard cursor.index == cursor.count else { return .notJSON }
        if let pending = pendingFailures.first { return pending.failure }
        if !sawDevice { return .missingDevice }
        if !sawTime { return .missingTime }
        return nil
    }

    /// Whether the last decoded record's device id is `bytes` (its message key, say).
    @inline(__always)
    package func deviceIs(_ bytes: UnsafeRawBufferPointer?) -> Bool {
        guard let bytes, bytes.count == device.count, !device.isEmpty else { return false }
        return device.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }

    /// The id of the last decoded record's device in `table`, interned if new. Inout, like
    /// ``withNumbers(_:)``: an exclusive access lends the buffers without a reference count.
    package mutating func internDevice(in table: inout DeviceTable) -> DeviceID {
        device.withUnsafeBytes { table.intern($0) }
    }

    /// Calls `body` with the numeric slots of the last decoded record.
    package mutating func withNumbers<R>(_ body: (UnsafeBufferPointer<Double>) -> R) -> R {
        numbers.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the string slots of the last decoded record: each slot's UTF-8 bytes
    /// (unescaped), or nil when missing, null or not a string. `value` must be the buffer
    /// last passed to `decode`; the pointers are valid only inside `body`.
    package func withStringFields<R>(
        in value: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer?>) -> R
    ) -> R {
        let count = stringStart.count
        return stringScratch.withUnsafeBytes { scratch in
            withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer?.self, capacity: max(count, 1)) { slots in
                for slot in 0..<count {
                    let start = stringStart[slot]
                    if start < 0 {
                        slots[slot] = nil
                    } else {
                        let source = stringInScratch[slot] ? scratch : value
                        slots[slot] = UnsafeRawBufferPointer(rebasing: source[start..<(start + stringCount[slot])])
                    }
                }
                return body(UnsafeBufferPointer(rebasing: slots[0..<count]))
            }
        }
    }

    private mutating func reset() {
        device.removeAll(keepingCapacity: true)
        otherMembers.removeAll(keepingCapacity: true)
        stringScratch.removeAll(keepingCapacity: true)
        if !pendingFailures.isEmpty { pendingFailures.removeAll(keepingCapacity: true) }
        for slot in stringStart.indices { stringStart[slot] = -1 }
    }

    // MARK: The top-level object

    private mutating func decodeObject(
        _ cursor: inout JSONCursor, keys: UnsafeBufferPointer<SchemaKey>, numbers: UnsafeMutableBufferPointer<Double>,
        sawDevice: inout Bool, sawTime: inout Bool
    ) -> RecordDecodeFailure? {
        cursor.skipWhitespace()
        guard let first = cursor.peek() else { return .notJSON }
        guard first == UInt8(ascii: "{") else {
            // Tell "valid JSON but not an object" apart from garbage.
            if let failure = cursor.skipValue(depth: 0) { return failure }
            cursor.skipWhitespace()
            return cursor.index == cursor.count ? .notAnObject : .notJSON
        }
        cursor.index += 1
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "}") {
            cursor.index += 1
            return nil
        }
        // Kept in a register: the member loop touches `pendingFailures` only when it has some.
        var hasPending = false
        while true {
            let memberStart = cursor.index
            guard cursor.peek() == UInt8(ascii: "\"") else { return .notJSON }
            let key = cursor.scanQuoted()
            if let failure = key.failure { return failure }
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ":") else { return .notJSON }
            cursor.index += 1
            cursor.skipWhitespace()

            let keyIndex = matchKey(cursor, keys: keys, start: key.start, end: key.start + key.count, escaped: key.escaped)
            if keyIndex < 0 {
                if let failure = cursor.skipValue(depth: 1) { return failure }
                if collectsOtherMembers { otherMembers.append(memberStart..<cursor.index) }
            } else {
                // A later member of a key replaces the earlier one, its problem included.
                if hasPending { hasPending = forgetPending(key: keyIndex) }
                let role = keys[keyIndex].role
                if role.isDevice {
                    if let failure = readDevice(&cursor) {
                        guard failure.isMemberValue else { return failure }
                        hasPending = pend(failure, key: keyIndex)
                        sawDevice = false
                    } else {
                        sawDevice = true
                    }
                } else if role.isTime {
                    if let failure = readTime(&cursor, present: &sawTime) {
                        guard failure.isMemberValue else { return failure }
                        hasPending = pend(failure, key: keyIndex)
                    }
                } else {
                    if let failure = readField(&cursor, role: role, numbers: numbers) {
                        guard failure.isMemberValue else { return failure }
                        hasPending = pend(failure, key: keyIndex)
                    }
                    if collectsOtherMembers { otherMembers.append(memberStart..<cursor.index) }
                }
            }

            cursor.skipWhitespace()
            guard let separator = cursor.peek() else { return .notJSON }
            cursor.index += 1
            if separator == UInt8(ascii: "}") { return nil }
            guard separator == UInt8(ascii: ",") else { return .notJSON }
            cursor.skipWhitespace()
        }
    }

    /// Remembers a problem with a member's value until a later member of its key replaces it.
    @inline(never)
    private mutating func pend(_ failure: RecordDecodeFailure, key: Int) -> Bool {
        pendingFailures.append((key, failure))
        return true
    }

    /// Drops the pending problem of `key`, replaced by a later member; whether any is left.
    @inline(never)
    private mutating func forgetPending(key: Int) -> Bool {
        pendingFailures.removeAll { $0.key == key }
        return !pendingFailures.isEmpty
    }

    /// The index of the schema key equal to the member key, or -1.
    @inline(__always)
    private mutating func matchKey(
        _ cursor: JSONCursor, keys: UnsafeBufferPointer<SchemaKey>, start: Int, end: Int, escaped: Bool
    ) -> Int {
        if escaped {
            keyScratch.removeAll(keepingCapacity: true)
            JSONCursor.unescape(cursor.base + start, count: end - start, into: &keyScratch)
            for (index, bytes) in keyBytes.enumerated() where bytes == keyScratch { return index }
            return -1
        }
        let length = end - start
        let head = Self.word(cursor, at: start, count: min(length, 8))
        let tail = length > 8 ? Self.word(cursor, at: start + 8, count: min(length - 8, 8)) : 0
        for index in 0..<keys.count
        where keys[index].length == length && keys[index].head == head && keys[index].tail == tail {
            guard length > 16 else { return index }
            let matched = keyBytes[index].withUnsafeBufferPointer { bytes in
                memcmp(bytes.baseAddress! + 16, cursor.base + start + 16, length - 16) == 0
            }
            if matched { return index }
        }
        return -1
    }

    /// `count` (0...8) bytes at `offset`, little-endian, zero-padded.
    @inline(__always)
    private static func word(_ cursor: JSONCursor, at offset: Int, count: Int) -> UInt64 {
        if cursor.count - offset >= 8 {
            let word = UInt64(littleEndian: UnsafeRawPointer(cursor.base + offset).loadUnaligned(as: UInt64.self))
            return count == 8 ? word : word & ((1 &<< UInt64(truncatingIfNeeded: count &* 8)) &- 1)
        }
        var word: UInt64 = 0
        for index in 0..<count { word |= UInt64(cursor.base[offset + index]) << (8 * index) }
        return word
    }

    // MARK: Field values

    private mutating func readDevice(_ cursor: inout JSONCursor) -> RecordDecodeFailure? {
        guard let first = cursor.peek() else { return .notJSON }
        switch first {
        case UInt8(ascii: "\""):
            let string = cursor.scanQuoted()
            if let failure = string.failure { return failure }
            guard string.count > 0 else { return .missingDevice }
            device.removeAll(keepingCapacity: true)
            if string.escaped {
                JSONCursor.unescape(cursor.base + string.start, count: string.count, into: &device)
            } else {
                device.append(contentsOf: UnsafeBufferPointer(start: cursor.base + string.start, count: string.count))
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = cursor.index
            guard let number = cursor.scanNumber() else { return .notJSON }
            if number.isOutOfRange(cursor.base) { return .numberOutOfRange }
            device.removeAll(keepingCapacity: true)
            device.append(contentsOf: UnsafeBufferPointer(start: cursor.base + start, count: cursor.index - start))
        case UInt8(ascii: "n"):
            guard cursor.skipLiteral("null") else { return .notJSON }
            return .missingDevice
        default:
            if let failure = cursor.skipValue(depth: 1) { return failure }
            return .invalidDevice
        }
        return nil
    }

    private mutating func readTime(_ cursor: inout JSONCursor, present: inout Bool) -> RecordDecodeFailure? {
        guard let first = cursor.peek() else { return .notJSON }
        switch first {
        case UInt8(ascii: "\""):
            let string = cursor.scanQuoted()
            if let failure = string.failure { return failure }
            guard !string.escaped, let ms = RFC3339.milliseconds(cursor.base + string.start, count: string.count)
            else { return .invalidTime }
            time = ms
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let number = cursor.scanNumber() else { return .notJSON }
            guard let ms = number.epochMilliseconds(cursor.base) else {
                return number.isOutOfRange(cursor.base) ? .numberOutOfRange : .invalidTime
            }
            time = ms
        case UInt8(ascii: "n"):
            guard cursor.skipLiteral("null") else { return .notJSON }
            return .missingTime
        default:
            if let failure = cursor.skipValue(depth: 1) { return failure }
            return .invalidTime
        }
        present = true
        return nil
    }

    /// Reads one member's value into its slots. Every value writes every slot of its key, so
    /// the last member of a repeated key wins whatever its type.
    @inline(__always)
    private mutating func readField(
        _ cursor: inout JSONCursor, role: KeyRole, numbers: UnsafeMutableBufferPointer<Double>
    ) -> RecordDecodeFailure? {
        guard let first = cursor.peek() else { return .notJSON }
        switch first {
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let number = cursor.scanNumber() else { return .notJSON }
            if role.numberSlot >= 0 {
                let value = number.double(cursor.base)
                guard value.isFinite else { return .numberOutOfRange }
                numbers[role.numberSlot] = value
            } else if number.isOutOfRange(cursor.base) {
                return .numberOutOfRange
            }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        case UInt8(ascii: "\""):
            let string = cursor.scanQuoted()
            if let failure = string.failure { return failure }
            if role.numberSlot >= 0 {
                if role.strictNumber { return .wrongFieldType }
                numbers[role.numberSlot] = .nan
            }
            if role.stringSlot >= 0 {
                if string.escaped {
                    stringStart[role.stringSlot] = stringScratch.count
                    JSONCursor.unescape(cursor.base + string.start, count: string.count, into: &stringScratch)
                    stringCount[role.stringSlot] = stringScratch.count - stringStart[role.stringSlot]
                    stringInScratch[role.stringSlot] = true
                } else {
                    stringStart[role.stringSlot] = string.start
                    stringCount[role.stringSlot] = string.count
                    stringInScratch[role.stringSlot] = false
                }
            }
        case UInt8(ascii: "t"):
            guard cursor.skipLiteral("true") else { return .notJSON }
            if role.numberSlot >= 0 { numbers[role.numberSlot] = 1 }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        case UInt8(ascii: "f"):
            guard cursor.skipLiteral("false") else { return .notJSON }
            if role.numberSlot >= 0 { numbers[role.numberSlot] = 0 }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        case UInt8(ascii: "n"):
            guard cursor.skipLiteral("null") else { return .notJSON }
            if role.numberSlot >= 0 { numbers[role.numberSlot] = .nan }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        default:
            // Broken JSON is told apart from a wrong type: skip (and validate) first.
            if let failure = cursor.skipValue(depth: 1) { return failure }
            if role.strictNumber { return .wrongFieldType }
            if role.numberSlot >= 0 { numbers[role.numberSlot] = .nan }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        }
        return nil
    }
}
