// Durations in app files: an integer with a unit (500ms, 10s, 2m, 6h, 1d), in milliseconds.

package enum DurationSyntax {
    /// Milliseconds per unit, longest suffix first so `ms` is not read as `m`.
    static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses `text` into milliseconds, or returns why it is not a duration.
    /// A bare `0` is allowed (zero needs no unit).
    package static func milliseconds(_ text: String) -> Result<Int64, DurationError> {
        if text == "0" { return .success(0) }
        guard let unit = units.first(where: { text.hasSuffix($0.suffix) }) else {
            return .failure(DurationError(text: text))
        }
        let digits = text.dropLast(unit.suffix.count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let count = Int64(digits) else {
            return .failure(DurationError(text: text))
        }
        let (product, overflow) = count.multipliedReportingOverflow(by: unit.milliseconds)
        guard !overflow else { return .failure(DurationError(text: text)) }
        return .success(product)
    }
}

extension DurationSyntax {
    /// A duration as an app file would write it: the largest unit that divides it exactly
    /// (`1d`, `90m`, `1500ms`).
    static func text(milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0" }
        for unit in units.reversed() where milliseconds % unit.milliseconds == 0 {
            return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
        }
        return "\(milliseconds)ms"
    }
}

package struct DurationError: Error {
    var text: String
    var message: String {
        "bad duration '\(text)': expected a whole number with a unit ms, s, m, h or d (e.g. 500ms, 10s, 2m, 6h, 1d)"
    }
}
