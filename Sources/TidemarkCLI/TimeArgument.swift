// Points in time given on the command line: `now`, `now-3h` or `-3h` (relative), epoch
// milliseconds, or RFC 3339.
import Tidemark

/// Parses command-line times into epoch milliseconds.
enum TimeArgument {
    /// Epoch milliseconds for `text`, or nil if it is no time this accepts.
    static func milliseconds(_ text: String, now: Int64) -> Int64? {
        if text == "now" { return now }
        var relative = Substring(text)
        if relative.hasPrefix("now") { relative = relative.dropFirst(3) }
        if let sign = relative.first, sign == "-" || sign == "+",
            case .success(let offset) = DurationSyntax.milliseconds(String(relative.dropFirst()))
        {
            return sign == "-" ? now - offset : now + offset
        }
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) { return Int64(text) }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { RFC3339.milliseconds($0.baseAddress!, count: $0.count) }
    }

    /// What the parser accepts, for error messages.
    static let accepted = "now, now-3h (relative), epoch milliseconds, or RFC 3339 (2026-11-28T06:00:00Z)"
}
