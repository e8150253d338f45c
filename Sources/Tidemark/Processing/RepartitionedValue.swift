// The value of a record in a repartition topic: where the record was first written (its input
// partition and offset), then its value unchanged. The origin lets the app skip a record
// written twice: a process that crashes after writing a record again, before committing its
// input offset, leaves its next owner to write it once more.
//
//     0x00 (format)  <input partition: 4 bytes, big-endian>  <input offset: 8 bytes, big-endian>
//     <the input record's value>

/// Encodes and reads repartitioned values.
package enum RepartitionedValue {
    package static let headerSize = 13

    /// Appends the value of the record at `offset` of input partition `partition` to `output`.
    package static func append(partition: Int32, offset: Int64, value: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(0)
        withUnsafeBytes(of: UInt32(bitPattern: partition).bigEndian) { output.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(bitPattern: offset).bigEndian) { output.append(contentsOf: $0) }
        output.append(contentsOf: value)
    }

    /// The origin and the input value of a repartitioned value; nil if it is none.
    @inline(__always)
    package static func read(_ value: UnsafeRawBufferPointer) -> (partition: Int32, offset: Int64, value: UnsafeRawBufferPointer)? {
        guard value.count >= headerSize, value[0] == 0 else { return nil }
        var partition: UInt32 = 0
        for index in 1..<5 { partition = partition << 8 | UInt32(value[index]) }
        var offset: UInt64 = 0
        for index in 5..<13 { offset = offset << 8 | UInt64(value[index]) }
        return (Int32(bitPattern: partition), Int64(bitPattern: offset), UnsafeRawBufferPointer(rebasing: value[headerSize...]))
    }
}
