// Byte encodings for saved state: fixed-width scalars and flat arrays (the device table), and
// varints for the compact per-device records of the engine (DeviceStateCoding.swift).

/// Why saved state could not be restored.
package enum SnapshotError: Error, Sendable, Equatable {
    /// The bytes do not start like state of this kind.
    case notASnapshot
    /// Written in a format version this build does not know.
    case unsupportedVersion(Int)
    /// The bytes end early, run on, or their parts do not fit together.
    case corrupt
    /// Written by an engine with a different number or kind of series, or another watermark scope.
    case specMismatch
    /// The device (or partition) already has state in this engine: a restore only fills an
    /// empty one.
    case alreadyHasState
}

struct SnapshotWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Double) { write(value.bitPattern) }

    mutating func write<T: BitwiseCopyable>(array: [T]) {
        write(Int64(array.count))
        // Little-endian hosts only (x86-64, arm64), like every platform Swift server code runs on.
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

struct SnapshotReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        guard position + size <= bytes.count else { throw .corrupt }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { target in
            bytes.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position ..< position + size]))
            }
        }
        position += size
        return T(littleEndian: value)
    }

    mutating func read(_: Double.Type) throws(SnapshotError) -> Double {
        Double(bitPattern: try read(UInt64.self))
    }

    mutating func readArray<T: BitwiseCopyable>() throws(SnapshotError) -> [T] {
        let count = Int(try read(Int64.self))
        let size = MemoryLayout<T>.stride
        guard count >= 0, count <= (bytes.count - position) / Swift.max(size, 1) else { throw .corrupt }
        let result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[position ..< position + count * size]))
            }
            initialized = count
        }
        position += count * size
        return result
    }

    var isAtEnd: Bool { position == bytes.count }
}

extension [UInt8] {
    /// LEB128: seven bits a byte, low first.
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(value))
    }

    /// Zigzag, so small negative numbers stay short too.
    @inline(__always)
    mutating func appendSignedVarint(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Reads what the `[UInt8]` appenders above wrote; every read checks the bounds and throws
/// ``SnapshotError/corrupt`` rather than trapping.
struct StateReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() throws(SnapshotError) -> UInt8 {
        guard position < bytes.count else { throw .corrupt }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws(SnapshotError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte()
            // The tenth byte may only hold the top bit.
            guard shift < 63 || byte <= 1 else { throw .corrupt }
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    mutating func signedVarint() throws(SnapshotError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A varint that must be at most `limit`.
    mutating func count(atMost limit: Int) throws(SnapshotError) -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw .corrupt }
        return Int(value)
    }

    mutating func littleEndian<T: FixedWidthInteger>(_: T.Type) throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .corrupt }
        var value = T.zero
        for i in 0 ..< size { value |= T(truncatingIfNeeded: bytes[position + i]) << (8 * i) }
        position += size
        return value
    }
}
