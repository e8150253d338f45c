// The records of an app's changelog partition: one per device, keyed so that compaction keeps
// each device's newest state, and one for the partition itself, whose position says what the
// whole state covers. Values are versioned, carry the input position they cover, and hold the
// engine's state bytes compressed with snappy.
//
//     key    0x00                      the partition record
//            0x01 <device id bytes>    a device record
//     value  <format version: 1 byte> <state signature: 8 bytes, little-endian>
//            <position: LEB128> <snappy block of state bytes>
//            (no value: a tombstone, the device holds nothing; its position is in the
//            `tidemark-position` header)
//     header `tidemark-cluster` on the partition record: the id of the cluster whose input
//            offsets the positions are (absent in records of earlier versions)
//     header `tidemark-origins` on the partition record of an app reading a repartition topic:
//            per input partition in order, `,`-separated, the offset below which its records
//            were all taken, then each offset taken above it, `/`-separated (`TakenOrigins`)
//
// The signature is the engine's: a record written for another shape of the app (other
// windows or aggregates) is ignored on restore, so a changed app starts from empty state.

/// What one changelog record is about.
package enum ChangelogKey: Equatable {
    case partition
    case device(UnsafeRawBufferPointer)

    package static func == (a: ChangelogKey, b: ChangelogKey) -> Bool {
        switch (a, b) {
        case (.partition, .partition): true
        case (.device(let x), .device(let y)): x.elementsEqual(y)
        default: false
        }
    }

    /// Reads a record key; nil for a key no version of Tidemark writes.
    package init?(_ key: UnsafeRawBufferPointer) {
        switch key.first {
        case 0x00 where key.count == 1: self = .partition
        case 0x01: self = .device(UnsafeRawBufferPointer(rebasing: key.dropFirst()))
        default: return nil
        }
    }

    /// Appends the key bytes of `device` to `output`.
    package static func appendDevice(_ device: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(0x01)
        output.append(contentsOf: device)
    }

    package static let partitionKey: [UInt8] = [0x00]
}

/// A changelog value: the input position its state covers and the state bytes.
package enum ChangelogValue {
    /// The format this version writes; a restore refuses values of a newer one.
    package static let formatVersion: UInt8 = 1

    /// The header that carries a tombstone's position.
    package static let positionHeader = "tidemark-position"

    /// The header that names, on the partition record, the cluster the positions belong to:
    /// the same offsets of another cluster (a replaced or mirrored one) are other records.
    package static let clusterHeader = "tidemark-cluster"

    /// The header that carries, on the partition record, a repartitioned state's origins.
    package static let originsHeader = "tidemark-origins"

    /// Appends a value for `state` covering the input before `position` to `output`.
    package static func append(
        signature: UInt64, position: Int64, state: UnsafeRawBufferPointer, to output: inout [UInt8]
    ) {
        output.append(formatVersion)
        withUnsafeBytes(of: signature.littleEndian) { output.append(contentsOf: $0) }
        var rest = UInt64(bitPattern: position)
        while rest >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        output.append(UInt8(rest))
        Snappy.compress(state, appendingTo: &output)
    }

    /// Reads a value: its signature, its position and (into `state`) its uncompressed state bytes.
    package static func read(
        _ value: UnsafeRawBufferPointer, state: inout [UInt8]
    ) throws(ChangelogFormatError) -> (signature: UInt64, position: Int64) {
        guard let version = value.first else { throw .truncated }
        guard version == formatVersion else { throw .unknownVersion(version) }
        guard value.count >= 9 else { throw .truncated }
        var signature: UInt64 = 0
        for byte in value[1..<9].reversed() { signature = signature << 8 | UInt64(byte) }
        var position: UInt64 = 0
        var shift: UInt64 = 0
        var index = 9
        while true {
            guard index < value.count, shift < 64 else { throw .truncated }
            let byte = value[index]
            index += 1
            position |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
        }
        guard Snappy.uncompress(UnsafeRawBufferPointer(rebasing: value[index...]), into: &state) else { throw .corrupt }
        return (signature, Int64(bitPattern: position))
    }
}

/// Why a changelog value could not be read.
package enum ChangelogFormatError: Error, Equatable, CustomStringConvertible {
    case unknownVersion(UInt8)
    case truncated
    case corrupt

    package var description: String {
        switch self {
        case .unknownVersion(let version):
            "format version \(version), but this tidemark reads version \(ChangelogValue.formatVersion) (written by a newer tidemark?)"
        case .truncated: "the value ends early"
        case .corrupt: "the state is not a valid snappy block"
        }
    }
}
