// The value of a record in a repartition topic: where the record was first written (its input
// partition and offset), the offset below which that partition's records were all acknowledged
// when it was sent, then its value unchanged. The app takes each origin once (`TakenOrigins`):
// a process that crashes after writing a record again, before committing its input offset,
// leaves its next owner to write it once more.
//
//     0x01 (format)  <input partition: 4 bytes>  <input offset: 8 bytes>  <floor: 8 bytes>
//     <the input record's value>                 (integers big-endian)

/// Encodes and reads repartitioned values.
package enum RepartitionedValue {
    package static let headerSize = 21
    static let format: UInt8 = 1

    /// Appends the value of the record at `offset` of input partition `partition`, sent when
    /// every record of it before `floor` was acknowledged, to `output`.
    package static func append(partition: Int32, offset: Int64, floor: Int64, value: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(format)
        withUnsafeBytes(of: UInt32(bitPattern: partition).bigEndian) { output.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(bitPattern: offset).bigEndian) { output.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(bitPattern: floor).bigEndian) { output.append(contentsOf: $0) }
        output.append(contentsOf: value)
    }

    /// The origin, the floor and the input value of a repartitioned value; nil if it is none.
    @inline(__always)
    package static func read(
        _ value: UnsafeRawBufferPointer
    ) -> (partition: Int32, offset: Int64, floor: Int64, value: UnsafeRawBufferPointer)? {
        guard value.count >= headerSize, value[0] == format else { return nil }
        var partition: UInt32 = 0
        for index in 1..<5 { partition = partition << 8 | UInt32(value[index]) }
        var offset: UInt64 = 0
        for index in 5..<13 { offset = offset << 8 | UInt64(value[index]) }
        var floor: UInt64 = 0
        for index in 13..<21 { floor = floor << 8 | UInt64(value[index]) }
        return (
            Int32(bitPattern: partition), Int64(bitPattern: offset), Int64(bitPattern: floor),
            UnsafeRawBufferPointer(rebasing: value[headerSize...])
        )
    }
}
