// Byte encoding for state snapshots: fixed-width little-endian scalars and length-prefixed
// flat arrays, so a snapshot is a straight copy of the engine's flat storage.

/// Why a snapshot could not be restored.
public enum SnapshotError: Error, Sendable, Equatable {
    /// The bytes do not start like a snapshot of this kind.
    case notASnapshot
    /// The snapshot ends early or its parts do not fit together.
    case corrupt
    /// The snapshot was taken by an engine with different series, watermark or field slots.
    case specMismatch
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
