// Byte-level JSON scanning shared by the record decoder: strings (with escapes and UTF-8
// validation, eight bytes at a time on plain ASCII), numbers, literals and skipped values.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct JSONCursor {
    let base: UnsafePointer<UInt8>
    let count: Int
    var index = 0

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    @inline(__always)
    func peek() -> UInt8? {
        index < count ? base[index] : nil
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < count {
            let byte = base[index]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            index += 1
        }
    }

    mutating func skipLiteral(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard count - index >= length, memcmp(base + index, literal.utf8Start, length) == 0 else { return false }
        index += length
        return true
    }

    // MARK: Strings

    /// Scans the string whose opening quote is at the cursor, to just after its closing quote:
    /// where its body starts and how long it is, escapes still in.
    @inline(__always)
    mutating func scanQuoted() -> (start: Int, count: Int, escaped: Bool, failure: RecordDecodeFailure?) {
        index += 1
        let start = index
        let scan = scanString()
        return (start, index - 1 - start, scan.escaped, scan.failure)
    }

    /// Scans a string body from just after its opening quote to just after its closing quote.
    @inline(__always)
    mutating func scanString() -> (escaped: Bool, failure: RecordDecodeFailure?) {
        var escaped = false
        while true {
            // Eight plain ASCII bytes at a time: no quote, backslash, control or non-ASCII byte.
            // On a hit, jump straight to the first special byte: the lowest flagged byte of
            // each mask is exact (borrows only run upwards), so short strings such as keys
            // end in one step.
            while count - index >= 8 {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let quote = Self.hasZeroByte(word ^ 0x2222_2222_2222_2222)
                let backslash = Self.hasZeroByte(word ^ 0x5C5C_5C5C_5C5C_5C5C)
                let control = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
                let high = word & 0x8080_8080_8080_8080
                let special = quote | backslash | control | high
                guard special == 0 else {
                    index += special.trailingZeroBitCount >> 3
                    break
                }
                index += 8
            }
            guard index < count else { return (escaped, .notJSON) }
            let byte = base[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return (escaped, nil)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                guard index + 1 < count else { return (escaped, .notJSON) }
                switch base[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= count else { return (escaped, .notJSON) }
                    for offset in 2..<6 where Self.hexValue(base[index + offset]) == nil {
                        return (escaped, .notJSON)
                    }
                    index += 6
                default:
                    return (escaped, .notJSON)
                }
            } else if byte < 0x20 {
                return (escaped, .notJSON)
            } else if byte < 0x80 {
                index += 1
            } else {
                guard let length = validUTF8Sequence(at: index) else { return (escaped, .invalidUTF8) }
                index += length
            }
        }
    }

    @inline(__always)
    static func hasZeroByte(_ word: UInt64) -> UInt64 {
        (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
    }

    /// The length of the valid multi-byte UTF-8 sequence at `start`, or nil.
    private func validUTF8Sequence(at start: Int) -> Int? {
        let lead = base[start]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return nil
        }
        guard count - start >= length else { return nil }
        let second = base[start + 1]
        guard second >= low && second <= high else { return nil }
        for offset in 2..<length where base[start + offset] & 0xC0 != 0x80 { return nil }
        return length
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Appends the unescaped UTF-8 of an already validated string body. A lone surrogate
    /// becomes U+FFFD.
    static func unescape(_ start: UnsafePointer<UInt8>, count: Int, into output: inout [UInt8]) {
        var i = 0
        func hex4(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 << 4 | (hexValue(start[at + $1]) ?? 0) }
        }
        while i < count {
            let byte = start[i]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                i += 1
                continue
            }
            let kind = start[i + 1]
            i += 2
            switch kind {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= count, start[i] == UInt8(ascii: "\\"),
                    start[i + 1] == UInt8(ascii: "u")
                {
                    let low = hex4(i + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                output.append(contentsOf: Unicode.Scalar(scalar).map { Array(UTF8.encode($0)!) } ?? [0xEF, 0xBF, 0xBD])
            default: output.append(kind)
            }
        }
    }

    // MARK: Skipping

    /// Skips (and validates) any JSON value; `depth` is the nesting of the value's container.
    mutating func skipValue(depth: Int) -> RecordDecodeFailure? {
        guard let first = peek() else { return .notJSON }
        switch first {
        case UInt8(ascii: "\""):
            index += 1
            return scanString().failure
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return skipNumber()
        case UInt8(ascii: "t"):
            return skipLiteral("true") ? nil : .notJSON
        case UInt8(ascii: "f"):
            return skipLiteral("false") ? nil : .notJSON
        case UInt8(ascii: "n"):
            return skipLiteral("null") ? nil : .notJSON
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < RecordDecoder.maxDepth else { return .tooDeep }
            let isObject = first == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipWhitespace()
            if peek() == close {
                index += 1
                return nil
            }
            while true {
                if isObject {
                    guard peek() == UInt8(ascii: "\"") else { return .notJSON }
                    index += 1
                    if let failure = scanString().failure { return failure }
                    skipWhitespace()
                    guard peek() == UInt8(ascii: ":") else { return .notJSON }
                    index += 1
                    skipWhitespace()
                }
                if let failure = skipValue(depth: depth + 1) { return failure }
                skipWhitespace()
                guard let separator = peek() else { return .notJSON }
                index += 1
                if separator == close { return nil }
                guard separator == UInt8(ascii: ",") else { return .notJSON }
                skipWhitespace()
            }
        default:
            return .notJSON
        }
    }

    // MARK: Numbers

    /// Skips a JSON number, checking its grammar, and its range only when it has an exponent
    /// or over 308 integer digits (the only numbers a double cannot hold).
    @inline(__always)
    mutating func skipNumber() -> RecordDecodeFailure? {
        let start = index
        if base[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count, base[index] &- UInt8(ascii: "0") < 10 else { return .notJSON }
        let integerStart = index
        if base[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < count, base[index] &- UInt8(ascii: "0") < 10 { index += 1 }
        }
        var mayOverflow = index - integerStart > 308
        if index < count, base[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            while index < count, base[index] &- UInt8(ascii: "0") < 10 { index += 1 }
            guard index > digits else { return .notJSON }
        }
        if index < count, base[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < count, base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < count, base[index] &- UInt8(ascii: "0") < 10 { index += 1 }
            guard index > digits else { return .notJSON }
            mayOverflow = true
        }
        if mayOverflow && ScannedNumber.parse(base, from: start, to: index).isInfinite { return .numberOutOfRange }
        return nil
    }

    /// Scans a JSON number; nil if the grammar is violated.
    @inline(__always)
    mutating func scanNumber() -> ScannedNumber? {
        var number = ScannedNumber(start: index)
        if base[index] == UInt8(ascii: "-") {
            number.negative = true
            index += 1
        }
        guard index < count, base[index] &- UInt8(ascii: "0") < 10 else { return nil }
        if base[index] == UInt8(ascii: "0") {
            index += 1
            number.integerDigits = 1
        } else {
            while index < count, case let digit = base[index] &- UInt8(ascii: "0"), digit < 10 {
                _ = number.addMantissaDigit(digit)
                number.integerDigits += 1
                if number.integerDigits <= 18 { number.integerPart = number.integerPart &* 10 &+ Int64(digit) }
                index += 1
            }
        }
        if index < count, base[index] == UInt8(ascii: ".") {
            index += 1
            var fractionDigits = 0
            while index < count, case let digit = base[index] &- UInt8(ascii: "0"), digit < 10 {
                if number.addMantissaDigit(digit) { number.exponent10 -= 1 }
                if fractionDigits < 3 { number.fractionMilliseconds = number.fractionMilliseconds * 10 + Int64(digit) }
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
            if fractionDigits < 3 { for _ in fractionDigits..<3 { number.fractionMilliseconds *= 10 } }
        }
        if index < count, base[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            number.hasExponent = true
            if index < count, base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-") { index += 1 }
            var exponentDigits = 0
            while index < count, base[index] &- UInt8(ascii: "0") < 10 {
                exponentDigits += 1
                index += 1
            }
            guard exponentDigits > 0 else { return nil }
        }
        number.end = index
        return number
    }
}

/// A scanned JSON number: its text range and what the fast paths need.
struct ScannedNumber {
    var start: Int
    var end = 0
    var negative = false
    /// Up to 19 significant digits.
    var mantissa: UInt64 = 0
    var significantDigits = 0
    /// mantissa * 10^exponent10 is the value, unless `inexact` or `hasExponent`.
    var exponent10 = 0
    var inexact = false
    var hasExponent = false
    var integerDigits = 0
    /// The integer part (valid while integerDigits <= 18).
    var integerPart: Int64 = 0
    /// The first three fraction digits, as milliseconds.
    var fractionMilliseconds: Int64 = 0

    init(start: Int) {
        self.start = start
    }

    /// Adds a digit to the mantissa; false if it had to be dropped (more than 19 digits).
    @inline(__always)
    mutating func addMantissaDigit(_ digit: UInt8) -> Bool {
        if significantDigits < 19 {
            mantissa = mantissa &* 10 &+ UInt64(digit)
            if mantissa != 0 { significantDigits += 1 }
            return true
        }
        if digit != 0 { inexact = true }
        exponent10 += 1
        return false
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// The value, correctly rounded: exact arithmetic when the mantissa and power of ten
    /// are exact doubles (Clinger's fast path), else `strtod` on the text.
    @inline(__always)
    func double(_ base: UnsafePointer<UInt8>) -> Double {
        if !hasExponent && !inexact && mantissa <= (1 << 53) && exponent10 >= -22 && exponent10 <= 22 {
            var value = Double(mantissa)
            value = exponent10 < 0 ? value / Self.powersOfTen[-exponent10] : value * Self.powersOfTen[exponent10]
            return negative ? -value : value
        }
        return slowDouble(base)
    }

    private func slowDouble(_ base: UnsafePointer<UInt8>) -> Double {
        Self.parse(base, from: start, to: end)
    }

    /// The double nearest the number text in `start..<end` (±infinity past the largest).
    static func parse(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Double {
        let length = end - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text in
            for offset in 0..<length { text[offset] = CChar(bitPattern: base[start + offset]) }
            text[length] = 0
            return strtod(text.baseAddress!, nil)
        }
    }

    /// Whether the number is too large for a double. Only a number with an exponent or over
    /// 308 integer digits can be, so others cost one test.
    @inline(__always)
    func isOutOfRange(_ base: UnsafePointer<UInt8>) -> Bool {
        guard hasExponent || integerDigits > 308 else { return false }
        return slowDouble(base).isInfinite
    }

    /// Epoch milliseconds, rounded down (toward the past) below the millisecond; nil past
    /// ±9e15. `unit` nil: >= 1e11 is milliseconds, smaller is seconds (the caller refuses a
    /// negative number).
    func epochMilliseconds(_ base: UnsafePointer<UInt8>, unit: EpochUnit?) -> Int64? {
        if !hasExponent && integerDigits <= 15 {
            if unit == nil && !negative {
                return integerPart >= 100_000_000_000 ? integerPart : integerPart * 1000 + fractionMilliseconds
            }
            // Exact, from the digits: the whole milliseconds, and whether a fraction was dropped.
            let unit = unit ?? (integerPart >= 100_000_000_000 ? .milliseconds : .seconds)
            let whole: Int64
            let keptFractionDigits: Int
            switch unit {
            case .seconds: (whole, keptFractionDigits) = (integerPart * 1000 + fractionMilliseconds, 3)
            case .milliseconds: (whole, keptFractionDigits) = (integerPart, 0)
            case .microseconds: (whole, keptFractionDigits) = (integerPart / 1000, 0)
            }
            guard negative else { return whole }
            let dropped =
                (unit == .microseconds && integerPart % 1000 != 0)
                || hasNonzeroFraction(base, after: keptFractionDigits)
            return -whole - (dropped ? 1 : 0)
        }
        let value = double(base)
        let ms: Double
        switch unit {
        case nil: ms = value >= 1e11 ? value : value * 1000
        case .seconds: ms = value * 1000
        case .milliseconds: ms = value
        case .microseconds: ms = value / 1000
        }
        let floored = ms.rounded(.down)
        guard floored.isFinite, abs(floored) < 9e15 else { return nil }
        return Int64(floored)
    }

    /// Whether a fraction digit past the first `kept` is not zero (a number without exponent).
    private func hasNonzeroFraction(_ base: UnsafePointer<UInt8>, after kept: Int) -> Bool {
        var index = start
        while index < end, base[index] != UInt8(ascii: ".") { index += 1 }
        index += 1 + kept
        while index < end {
            if base[index] != UInt8(ascii: "0") { return true }
            index += 1
        }
        return false
    }
}
