// `tidemark batch`: one app over a file of JSON lines. Arrival order is line order, the
// whole file is one partition, and every window closes at the end of the input: the same
// `AppProcessor` as `tidemark run`, so the final revisions are identical.
import Foundation

/// A problem that stops a batch run (malformed lines do not).
package enum BatchError: Error, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case invalidApp(String)

    package var description: String {
        switch self {
        case .cannotRead(let path, let reason): "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        case .invalidApp(let reason): reason
        }
    }
}

/// What a batch run did.
package struct BatchSummary: Sendable, Equatable {
    package var lines = 0
    package var counts = AppCounts()
}

/// Runs one app over a JSON-lines file.
package enum BatchRun {
    /// Lines per batch: revisions revised by late lines are emitted every this many lines
    /// (counting blank and malformed ones) and at the end of the input. A constant, so a file
    /// always gives the same output; revision contents do not depend on it anyway.
    package static let linesPerBatch = 4096

    /// - Parameters:
    ///   - late: where too-late and malformed lines go, one JSON object a line
    ///     (`{"line":12,"reason":"malformed","error":"…","value":"<the line>"}`, or
    ///     `"value_base64"` for a line that is not UTF-8); nil: nowhere.
    ///   - now: the processing clock (epoch ms) for the whole run, by default the wall clock
    ///     at its start: the data was taken before, so `watermark.max_future` holds as live.
    ///   - onLate: called for each such line with its 1-based number, e.g. to report it.
    ///   - linesPerBatch: how many lines a batch holds (the default, as `tidemark batch` runs;
    ///     1 emits every revision, as before revisions were coalesced).
    package static func run(
        app: AppDefinition, input: String, output: String, late: String?,
        now: Int64 = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)), linesPerBatch: Int = linesPerBatch,
        onLate: (_ line: Int, _ reason: LateReason) -> Void = { _, _ in }
    ) throws(BatchError) -> BatchSummary {
        let processor: AppProcessor
        do {
            processor = try AppProcessor(app: app)
        } catch {
            throw .invalidApp("\(app.sourceFile): \(error)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: input), options: .alwaysMapped)
        } catch {
            throw .cannotRead(path: input, reason: error.localizedDescription)
        }
        let sink = try JSONLinesSink(output: output, late: late)
        var summary = BatchSummary()
        data.withUnsafeBytes { (file: UnsafeRawBufferPointer) in
            var start = 0
            while start < file.count {
                let rest = UnsafeRawBufferPointer(rebasing: file[start...])
                let newline = memchr(rest.baseAddress!, Int32(UInt8(ascii: "\n")), rest.count)
                let end = newline.map { start + (UnsafeRawPointer($0) - rest.baseAddress!) } ?? file.count
                var line = UnsafeRawBufferPointer(rebasing: file[start..<end])
                if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
                start = end + 1
                if summary.lines > 0 && summary.lines % linesPerBatch == 0 { processor.endBatch(into: sink) }
                summary.lines += 1
                // A blank line is no record; skipping it keeps trailing newlines harmless.
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
                sink.source = .line(summary.lines)
                let outcome = processor.process(
                    value: line, key: nil, timestamp: nil, partition: 0, offset: Int64(summary.lines), now: now, into: sink)
                if case .late(let reason) = outcome { onLate(summary.lines, reason) }
                if sink.error != nil { return }
            }
        }
        processor.endBatch(into: sink)
        processor.closeAll(into: sink)
        try sink.finish()
        summary.counts = processor.counts
        return summary
    }
}
