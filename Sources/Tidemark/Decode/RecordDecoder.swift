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
/// Fields are ``FieldPath``s: the decoder descends only into objects under a key that
/// begins some path of the schema, and skips everything else. A path through a value that
/// is not an object (or through an array) reads as missing.
///
/// Event time from a field: a string is RFC 3339 (`Z` or `±hh:mm`, optional fractional
/// seconds, `T`, `t` or space between date and time); a number is epoch time in the
/// schema's `timeUnit`, or without one, >= 1e11 epoch milliseconds and smaller epoch seconds,
/// a negative number being `.negativeTime`. Below the millisecond a time is rounded down
/// (toward the past). A device id may be a JSON string or number; a number is kept as its
/// text (`17` is the device "17"). A boolean field reads as the number 1 or 0.
///
/// Of members sharing a key, the last one wins, for the device, the time and every field
/// (a null among them included), at every level: a later `"meta":{…}` replaces all an
/// earlier one held. A problem with an earlier member's value does not count when a later
/// member replaces it. A number too large for a double anywhere makes the record malformed.
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
    /// device and time fields, in record order, for trigger events to copy verbatim. A member
    /// holding a nested device or time field (`meta` of `meta.id`) is copied whole.
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

    // The schema's keys, flattened for the member loop: the top-level keys first, then the
    // keys inside each key that begins a longer path, each object's keys side by side.
    private let keyBytes: [[UInt8]]
    private let keys: SchemaKeys
    private let topLevelKeys: Int
    private let timeUnit: EpochUnit?

    /// A schema key as the member loop compares it: the length and the first sixteen bytes
    /// in words, so a member is matched or rejected by integer compares without touching
    /// another array (keys longer than sixteen bytes compare the rest with memcmp). Its role
    /// is apart (`SchemaKeys.roles`, same index): the loop reads it only on a match.
    private struct SchemaKey: Sendable {
        var length: Int
        /// Bytes 0..<8 and 8..<16, little-endian, zero-padded.
        var head: UInt64
        var tail: UInt64
    }

    /// The schema keys in memory of their own: the member loop reads them through a pointer,
    /// with no reference count per record and no access overlapping the decoder's.
    private final class SchemaKeys: @unchecked Sendable {
        // @unchecked Sendable: the memory is written once, in init, and only read after.
        let buffer: UnsafeMutableBufferPointer<SchemaKey>
        let roles: UnsafeMutableBufferPointer<KeyRole>
        /// For each key that begins a longer path, the keys below it (`KeyRole.descendants`).
        let descendants: UnsafeMutableBufferPointer<Int>

        init(_ keys: [SchemaKey], roles: [KeyRole], descendants: [Int]) {
            buffer = .allocate(capacity: keys.count)
            _ = buffer.initialize(from: keys)
            self.roles = .allocate(capacity: roles.count)
            _ = self.roles.initialize(from: roles)
            self.descendants = .allocate(capacity: descendants.count)
            _ = self.descendants.initialize(from: descendants)
        }

        deinit {
            buffer.deallocate()
            roles.deallocate()
            descendants.deallocate()
        }
    }

    private struct KeyRole: Sendable {
        var isDevice = false
        var isTime = false
        var numberSlot = -1
        var strictNumber = false
        var stringSlot = -1
        // In 32 bits: the role is copied out of its buffer for every matched member.
        private var childBounds: (Int32, Int32) = (0, 0)
        private var descendantBounds: (Int32, Int32) = (0, 0)

        /// The keys of the object under this key (a range of the key buffer), when some path
        /// goes on through it; empty otherwise.
        var children: Range<Int> {
            get { Int(childBounds.0)..<Int(childBounds.1) }
            set { childBounds = (Int32(newValue.lowerBound), Int32(newValue.upperBound)) }
        }
        /// Every key below this one, at any depth (a range of `SchemaKeys.descendants`).
        var descendants: Range<Int> {
            get { Int(descendantBounds.0)..<Int(descendantBounds.1) }
            set { descendantBounds = (Int32(newValue.lowerBound), Int32(newValue.upperBound)) }
        }
        var beginsPaths: Bool { childBounds.0 != childBounds.1 }

        var isField: Bool { isDevice || isTime || numberSlot >= 0 || stringSlot >= 0 }
    }

    /// One object level of the schema while it is built: its keys in first-use order.
    private final class KeyLevel {
        var names: [String] = []
        var roles: [String: KeyRole] = [:]
        var children: [String: KeyLevel] = [:]

        func role(_ path: ArraySlice<String>, _ update: (inout KeyRole) -> Void) {
            let name = path.first!
            if roles[name] == nil {
                names.append(name)
                roles[name] = KeyRole()
            }
            if path.count == 1 {
                update(&roles[name]!)
            } else {
                let child = children[name] ?? KeyLevel()
                children[name] = child
                child.role(path.dropFirst(), update)
            }
        }
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
        timeUnit = schema.timeUnit
        let top = KeyLevel()
        func role(_ field: String, _ update: (inout KeyRole) -> Void) {
            let segments = (try? FieldPath.parse(field).segments) ?? [field]
            top.role(segments[...], update)
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

        // Level by level: an object's keys side by side, its children's after.
        var flat: [(name: String, role: KeyRole, children: KeyLevel?)] = top.names.map { ($0, top.roles[$0]!, top.children[$0]) }
        var next = 0
        while next < flat.count {
            if let children = flat[next].children {
                flat[next].role.children = flat.count..<(flat.count + children.names.count)
                flat += children.names.map { ($0, children.roles[$0]!, children.children[$0]) }
            }
            next += 1
        }
        var descendants: [Int] = []
        for index in flat.indices where !flat[index].role.children.isEmpty {
            let start = descendants.count
            var pending = Array(flat[index].role.children)
            while let key = pending.popLast() {
                descendants.append(key)
                pending += flat[key].role.children
            }
            flat[index].role.descendants = start..<descendants.count
        }
        topLevelKeys = top.names.count
        keyBytes = flat.map { Array($0.name.utf8) }
        keys = SchemaKeys(
            keyBytes.map { bytes in
                SchemaKey(length: bytes.count, head: Self.word(bytes.prefix(8)), tail: Self.word(bytes.dropFirst(8).prefix(8)))
            },
            roles: flat.map(\.role), descendants: descendants)
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
        let roles = UnsafeBufferPointer(self.keys.roles)
        let failure = numbers.withUnsafeMutableBufferPointer { numbers in
            for slot in numbers.indices { numbers[slot] = .nan }
            return decodeObject(
                &cursor, keys: keys, roles: roles, numbers: numbers, sawDevice: &sawDevice, sawTime: &sawTime)
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
        _ cursor: inout JSONCursor, keys: UnsafeBufferPointer<SchemaKey>, roles: UnsafeBufferPointer<KeyRole>,
        numbers: UnsafeMutableBufferPointer<Double>,
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
        return decodeMembers(
            &cursor, keys: keys, roles: roles, level: 0..<topLevelKeys, depth: 1, collects: collectsOtherMembers,
            numbers: numbers, sawDevice: &sawDevice, sawTime: &sawTime)
    }

    /// The members of an object, from just after its `{` to just after its `}`: `level` are
    /// the schema keys at this object, `depth` its nesting (the record is 1). Inlined in the
    /// record's loop and in `readParent`'s, so the record's runs with its constants.
    @inline(__always)
    private mutating func decodeMembers(
        _ cursor: inout JSONCursor, keys: UnsafeBufferPointer<SchemaKey>, roles: UnsafeBufferPointer<KeyRole>,
        level: Range<Int>, depth: Int, collects: Bool, numbers: UnsafeMutableBufferPointer<Double>,
        sawDevice: inout Bool, sawTime: inout Bool
    ) -> RecordDecodeFailure? {
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "}") {
            cursor.index += 1
            return nil
        }
        // Kept in a register: the member loop touches `pendingFailures` only when it has some.
        var hasPending = !pendingFailures.isEmpty
        while true {
            let memberStart = cursor.index
            guard cursor.peek() == UInt8(ascii: "\"") else { return .notJSON }
            let key = cursor.scanQuoted()
            if let failure = key.failure { return failure }
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ":") else { return .notJSON }
            cursor.index += 1
            cursor.skipWhitespace()

            let keyIndex = matchKey(
                cursor, keys: keys, level: level, start: key.start, end: key.start + key.count, escaped: key.escaped)
            if keyIndex < 0 {
                if let failure = cursor.skipValue(depth: depth) { return failure }
                if collects { otherMembers.append(memberStart..<cursor.index) }
            } else {
                // A later member of a key replaces the earlier one, its problem included.
                if hasPending { hasPending = forgetPending(key: keyIndex) }
                let role = roles[keyIndex]
                if role.beginsPaths {
                    if let failure = readParent(
                        &cursor, key: keyIndex, role: role, keys: keys, roles: roles, depth: depth, numbers: numbers,
                        sawDevice: &sawDevice, sawTime: &sawTime)
                    {
                        return failure
                    }
                    hasPending = !pendingFailures.isEmpty
                } else if let failure = readLeaf(
                    &cursor, key: keyIndex, role: role, depth: depth, numbers: numbers, hasPending: &hasPending,
                    sawDevice: &sawDevice, sawTime: &sawTime)
                {
                    return failure
                }
                if collects && !role.isDevice && !role.isTime { otherMembers.append(memberStart..<cursor.index) }
            }

            cursor.skipWhitespace()
            guard let separator = cursor.peek() else { return .notJSON }
            cursor.index += 1
            if separator == UInt8(ascii: "}") { return nil }
            guard separator == UInt8(ascii: ",") else { return .notJSON }
            cursor.skipWhitespace()
        }
    }

    /// Reads the value of a key that is a field and begins no longer path. Returns a problem
    /// with the record's text; one with the value is pending until a later member replaces it.
    @inline(__always)
    private mutating func readLeaf(
        _ cursor: inout JSONCursor, key: Int, role: KeyRole, depth: Int, numbers: UnsafeMutableBufferPointer<Double>,
        hasPending: inout Bool, sawDevice: inout Bool, sawTime: inout Bool
    ) -> RecordDecodeFailure? {
        if role.isDevice {
            if let failure = readDevice(&cursor, depth: depth) {
                guard failure.isMemberValue else { return failure }
                hasPending = pend(failure, key: key)
                sawDevice = false
            } else {
                sawDevice = true
            }
        } else if role.isTime {
            if let failure = readTime(&cursor, depth: depth, present: &sawTime) {
                guard failure.isMemberValue else { return failure }
                hasPending = pend(failure, key: key)
            }
        } else if let failure = readField(&cursor, role: role, depth: depth, numbers: numbers) {
            guard failure.isMemberValue else { return failure }
            hasPending = pend(failure, key: key)
        }
        return nil
    }

    /// Reads the value of a key that begins longer paths (and may be a field itself): an
    /// object is descended into, anything else leaves the paths through it missing. Either
    /// way it replaces all an earlier member of the key gave the fields below it.
    @inline(never)
    private mutating func readParent(
        _ cursor: inout JSONCursor, key: Int, role: KeyRole, keys: UnsafeBufferPointer<SchemaKey>,
        roles: UnsafeBufferPointer<KeyRole>, depth: Int, numbers: UnsafeMutableBufferPointer<Double>, sawDevice: inout Bool, sawTime: inout Bool
    ) -> RecordDecodeFailure? {
        for below in self.keys.descendants[role.descendants] {
            let field = roles[below]
            if field.isDevice { sawDevice = false }
            if field.isTime { sawTime = false }
            if field.numberSlot >= 0 { numbers[field.numberSlot] = .nan }
            if field.stringSlot >= 0 { stringStart[field.stringSlot] = -1 }
            if !pendingFailures.isEmpty { _ = forgetPending(key: below) }
        }
        var hasPending = !pendingFailures.isEmpty
        guard cursor.peek() == UInt8(ascii: "{") else {
            if role.isField {
                return readLeaf(
                    &cursor, key: key, role: role, depth: depth, numbers: numbers, hasPending: &hasPending,
                    sawDevice: &sawDevice, sawTime: &sawTime)
            }
            return cursor.skipValue(depth: depth)
        }
        // The key is a field too: an object is no device id, time or number.
        if role.isDevice {
            sawDevice = false
            _ = pend(.invalidDevice, key: key)
        } else if role.isTime {
            _ = pend(.invalidTime, key: key)
        } else {
            if role.numberSlot >= 0 {
                numbers[role.numberSlot] = .nan
                if role.strictNumber { _ = pend(.wrongFieldType, key: key) }
            }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        }
        guard depth < Self.maxDepth else { return .tooDeep }
        cursor.index += 1
        return decodeMembers(
            &cursor, keys: keys, roles: roles, level: role.children, depth: depth + 1, collects: false,
            numbers: numbers, sawDevice: &sawDevice, sawTime: &sawTime)
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

    /// The index of the schema key in `level` equal to the member key, or -1.
    @inline(__always)
    private mutating func matchKey(
        _ cursor: JSONCursor, keys: UnsafeBufferPointer<SchemaKey>, level: Range<Int>, start: Int, end: Int,
        escaped: Bool
    ) -> Int {
        if escaped {
            keyScratch.removeAll(keepingCapacity: true)
            JSONCursor.unescape(cursor.base + start, count: end - start, into: &keyScratch)
            for index in level where keyBytes[index] == keyScratch { return index }
            return -1
        }
        let length = end - start
        let head = Self.word(cursor, at: start, count: min(length, 8))
        let tail = length > 8 ? Self.word(cursor, at: start + 8, count: min(length - 8, 8)) : 0
        for index in level
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

    private mutating func readDevice(_ cursor: inout JSONCursor, depth: Int) -> RecordDecodeFailure? {
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
            if let failure = cursor.skipValue(depth: depth) { return failure }
            return .invalidDevice
        }
        return nil
    }

    private mutating func readTime(_ cursor: inout JSONCursor, depth: Int, present: inout Bool) -> RecordDecodeFailure? {
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
            // A negative number's magnitude says nothing of its unit.
            if number.negative && timeUnit == nil && number.mantissa != 0 {
                return number.isOutOfRange(cursor.base) ? .numberOutOfRange : .negativeTime
            }
            guard let ms = number.epochMilliseconds(cursor.base, unit: timeUnit) else {
                return number.isOutOfRange(cursor.base) ? .numberOutOfRange : .invalidTime
            }
            time = ms
        case UInt8(ascii: "n"):
            guard cursor.skipLiteral("null") else { return .notJSON }
            return .missingTime
        default:
            if let failure = cursor.skipValue(depth: depth) { return failure }
            return .invalidTime
        }
        present = true
        return nil
    }

    /// Reads one member's value into its slots. Every value writes every slot of its key, so
    /// the last member of a repeated key wins whatever its type.
    @inline(__always)
    private mutating func readField(
        _ cursor: inout JSONCursor, role: KeyRole, depth: Int, numbers: UnsafeMutableBufferPointer<Double>
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
            if let failure = cursor.skipValue(depth: depth) { return failure }
            if role.strictNumber { return .wrongFieldType }
            if role.numberSlot >= 0 { numbers[role.numberSlot] = .nan }
            if role.stringSlot >= 0 { stringStart[role.stringSlot] = -1 }
        }
        return nil
    }
}
