// JSON text primitives shared by the output encoder and batch's late lines: strings escaped
// byte by byte, integers, and shortest round-trip doubles.

/// JSON text primitives.
enum JSONWriter {
    static func appendString(_ text: some Sequence<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text { appendEscaped(byte, to: &output) }
        output.append(UInt8(ascii: "\""))
    }

    /// The escaped bytes of a string, without quotes.
    static func appendStringBody(_ text: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        for byte in text { appendEscaped(byte, to: &output) }
    }

    @inline(__always)
    static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
        case 0x0A: output.append(contentsOf: #"\n"#.utf8)
        case 0x0D: output.append(contentsOf: #"\r"#.utf8)
        case 0x09: output.append(contentsOf: #"\t"#.utf8)
        case 0x08: output.append(contentsOf: #"\b"#.utf8)
        case 0x0C: output.append(contentsOf: #"\f"#.utf8)
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            output.append(contentsOf: #"\u00"#.utf8)
            output.append(hex[Int(byte >> 4)])
            output.append(hex[Int(byte & 0xF)])
        default: output.append(byte)
        }
    }

    static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            repeat {
                digits[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            while count > 0 {
                count -= 1
                output.append(digits[count])
            }
        }
    }

    static func appendNumber(_ value: Double, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded(.towardZero) && abs(value) < 9_007_199_254_740_992 {
            appendInteger(Int64(value), to: &output)
            return
        }
        // Swift prints the shortest representation that round-trips, already valid JSON
        // (`21.4`, `1e-05`, `1.5e+300`).
        output.append(contentsOf: value.description.utf8)
    }
}
