// Buffered writing of one JSON record a line to a file, straight from bytes.
import Foundation

/// Appends lines to a file through a 1 MiB buffer.
final class JSONLinesWriter {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    /// Creates or truncates `path`.
    init(path: String) throws(BatchError) {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw BatchError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        self.path = path
        buffer.reserveCapacity(Self.flushThreshold + 4096)
    }

    deinit { close(descriptor) }

    /// The buffer to append one line's bytes to; `endLine` finishes it.
    func append(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }

    func append(_ bytes: [UInt8]) { buffer.append(contentsOf: bytes) }

    func endLine() throws(BatchError) {
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    func flush() throws(BatchError) {
        var written = 0
        while written < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else { throw BatchError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
