// RFC 3339 timestamps (`2025-11-28T00:00:12.345Z`, `2025-11-28T01:00:12+01:00`) to epoch
// milliseconds, straight from bytes.

package enum RFC3339 {
    /// Epoch milliseconds, or nil if the text is not an RFC 3339 date-time. Fractions beyond
    /// milliseconds are truncated; `T`, `t` or a space separates date and time; `Z`/`z` or a
    /// `±hh:mm` offset is required.
    package static func milliseconds(_ text: UnsafePointer<UInt8>, count: Int) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= count else { return nil }
            var value: Int64 = 0
            for _ in 0..<n {
                let digit = text[i] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
                i += 1
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard i < count, text[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
            let day = digits(2)
        else { return nil }
        guard i < count, text[i] == UInt8(ascii: "T") || text[i] == UInt8(ascii: "t") || text[i] == 0x20 else {
            return nil
        }
        i += 1
        guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), expect(UInt8(ascii: ":")),
            let second = digits(2)
        else { return nil }
        var millis: Int64 = 0
        if i < count, text[i] == UInt8(ascii: ".") {
            i += 1
            var fractionDigits = 0
            while i < count, case let digit = text[i] &- UInt8(ascii: "0"), digit < 10 {
                if fractionDigits < 3 { millis = millis * 10 + Int64(digit) }
                fractionDigits += 1
                i += 1
            }
            guard fractionDigits > 0 else { return nil }
            if fractionDigits < 3 { for _ in fractionDigits..<3 { millis *= 10 } }
        }
        guard i < count else { return nil }
        var offsetMinutes: Int64 = 0
        switch text[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = text[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let offsetHours = digits(2), expect(UInt8(ascii: ":")), let offsetMins = digits(2),
                offsetHours < 24, offsetMins < 60
            else { return nil }
            offsetMinutes = sign * (offsetHours * 60 + offsetMins)
        default:
            return nil
        }
        guard i == count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour < 24,
            minute < 60, second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1_000 + millis
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
