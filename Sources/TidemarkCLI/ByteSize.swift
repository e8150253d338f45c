// Sizes on the command line: `256MiB`, `1GiB`, `65536` (bytes).
import ArgumentParser

/// A number of bytes written with a binary unit (`B`, `KiB`, `MiB`, `GiB`; `K`, `M`, `G` and
/// `KB`, `MB`, `GB` mean the same, as librdkafka's sizes do).
struct ByteSize: ExpressibleByArgument, Equatable {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = Substring(argument)
        let digits = text.prefix { $0.isNumber }
        guard let number = Int(digits), number > 0 else { return nil }
        let units: [String: Int] = [
            "": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
            "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
        ]
        guard let unit = units[text.dropFirst(digits.count).lowercased()] else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.bytes = bytes
    }
}
