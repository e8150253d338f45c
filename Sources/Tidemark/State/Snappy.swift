// Snappy block compression for changelog values: state records are small and repetitive
// (field layouts, nearby timestamps), and restore speed matters more than the last percent
// of size, which is the trade snappy makes.
import CSnappy

/// Snappy's block format over libsnappy.
enum Snappy {
    /// Appends the compressed form of `input` to `output`.
    static func compress(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) {
        let start = output.count
        let bound = snappy_max_compressed_length(input.count)
        output.append(contentsOf: repeatElement(0, count: bound))
        var length = bound
        // An empty input may have no address; snappy reads none of its bytes then.
        let empty: CChar = 0
        let status = withUnsafePointer(to: empty) { emptyAddress in
            output.withUnsafeMutableBytes { buffer in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyAddress, input.count,
                    buffer.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self), &length)
            }
        }
        // Compression of any input into a buffer of the maximal size cannot fail.
        precondition(status == SNAPPY_OK, "snappy_compress: \(status)")
        output.removeLast(bound - length)
    }

    /// The uncompressed bytes of `input`, or nil when it is not a valid snappy block (or
    /// would expand beyond `limit` bytes).
    static func uncompress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8], limit: Int = 64 << 20) -> Bool {
        guard let base = input.baseAddress?.assumingMemoryBound(to: CChar.self) else { return false }
        var length = 0
        guard snappy_uncompressed_length(base, input.count, &length) == SNAPPY_OK, length <= limit else { return false }
        output.removeAll(keepingCapacity: true)
        output.append(contentsOf: repeatElement(0, count: length))
        let status = output.withUnsafeMutableBytes { buffer in
            snappy_uncompress(base, input.count, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
        }
        return status == SNAPPY_OK && length == output.count
    }
}
