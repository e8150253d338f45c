// The file side of an `OutputSink`: results and trigger events as JSON lines, late records as
// JSON lines that say where each came from and why it is late. `batch` and `replay` write it.
import Foundation

/// Where an input record came from: a line of a file (`batch`) or a message of the input
/// topic (`replay`). A late record names it first (`{"line":12,…}`, `{"partition":3,"offset":120,…}`).
enum LateSource {
    case line(Int)
    case message(partition: Int32, offset: Int64)
}

/// Writes results and trigger events to one file, late records to another.
final class JSONLinesSink: OutputSink {
    private let output: JSONLinesWriter
    private let late: JSONLinesWriter?
    /// Where the input record being processed came from, for late records.
    var source = LateSource.line(0)
    /// The first write error; `OutputSink` calls cannot throw.
    private(set) var error: BatchError?
    private var scratch: [UInt8] = []

    init(output: String, late: String?) throws(BatchError) {
        self.output = try JSONLinesWriter(path: output)
        self.late = try late.map { (path) throws(BatchError) in try JSONLinesWriter(path: path) }
    }

    func send(
        topic: String, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, device: UnsafeRawBufferPointer,
        windowEnd: Int64?
    ) {
        output.append(value)
        record { () throws(BatchError) in try output.endLine() }
    }

    func sendLate(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, reason: LateReason) {
        guard let late else { return }
        scratch.removeAll(keepingCapacity: true)
        switch source {
        case .line(let line):
            scratch.append(contentsOf: #"{"line":"#.utf8)
            scratch.append(contentsOf: String(line).utf8)
        case .message(let partition, let offset):
            scratch.append(contentsOf: #"{"partition":"#.utf8)
            scratch.append(contentsOf: String(partition).utf8)
            scratch.append(contentsOf: #","offset":"#.utf8)
            scratch.append(contentsOf: String(offset).utf8)
        }
        scratch.append(contentsOf: #","reason":"#.utf8)
        JSONWriter.appendString(reason.reason.utf8, to: &scratch)
        if let error = reason.error {
            scratch.append(contentsOf: #","error":"#.utf8)
            JSONWriter.appendString(error.utf8, to: &scratch)
        }
        let bytes = value ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if String(bytes: bytes, encoding: .utf8) != nil {
            scratch.append(contentsOf: #","value":"#.utf8)
            JSONWriter.appendString(bytes, to: &scratch)
        } else {
            // A JSON string holds text only: bytes that are not UTF-8 keep every bit in base64.
            scratch.append(contentsOf: #","value_base64":""#.utf8)
            scratch.append(contentsOf: Data(bytes).base64EncodedString().utf8)
            scratch.append(UInt8(ascii: "\""))
        }
        scratch.append(UInt8(ascii: "}"))
        late.append(scratch)
        record { () throws(BatchError) in try late.endLine() }
    }

    func finish() throws(BatchError) {
        if let error { throw error }
        try output.flush()
        try late?.flush()
    }

    private func record(_ write: () throws(BatchError) -> Void) {
        guard error == nil else { return }
        do throws(BatchError) { try write() } catch { self.error = error }
    }
}
