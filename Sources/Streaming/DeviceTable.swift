// Interns device ids (UTF-8 bytes straight from the decoder) to dense DeviceIDs. A hit
// allocates nothing: an open-addressing table over a byte arena; the String name is made
// once per device, for output.

/// Maps device id bytes to dense ``DeviceID``s and back to names.
package struct DeviceTable: Sendable {
    /// Slot → device index, or -1; the capacity is a power of two kept at most half full.
    @usableFromInline var slots: [Int32]
    @usableFromInline var hashes: [UInt64] = []
    /// Device i's bytes are `arena[offsets[i] ..< offsets[i + 1]]`.
    @usableFromInline var arena: [UInt8] = []
    @usableFromInline var offsets: [Int32] = [0]
    @usableFromInline var names: [String] = []

    package init() {
        slots = Array(repeating: -1, count: 64)
    }

    /// The number of devices interned so far; ids are `0 ..< count`.
    package var count: Int { names.count }

    /// The id for these bytes, interning them on first sight.
    package mutating func intern(_ bytes: UnsafeRawBufferPointer) -> DeviceID {
        let hash = Self.hash(bytes)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = slots[slot]
            if index < 0 { break }
            if hashes[Int(index)] == hash && equals(Int(index), bytes) { return DeviceID(index) }
            slot = (slot + 1) & mask
        }
        let index = Int32(names.count)
        hashes.append(hash)
        arena.append(contentsOf: bytes)
        offsets.append(Int32(arena.count))
        names.append(String(decoding: bytes, as: UTF8.self))
        slots[slot] = index
        if names.count * 2 > slots.count { grow() }
        return DeviceID(index)
    }

    /// The id for a name, interning it on first sight.
    package mutating func intern(_ name: String) -> DeviceID {
        var name = name
        return name.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    /// The id of these bytes if they were interned before.
    package func lookup(_ bytes: UnsafeRawBufferPointer) -> DeviceID? {
        let hash = Self.hash(bytes)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = slots[slot]
            if index < 0 { return nil }
            if hashes[Int(index)] == hash && equals(Int(index), bytes) { return DeviceID(index) }
            slot = (slot + 1) & mask
        }
    }

    /// The device id as it appeared in the input.
    package func name(of device: DeviceID) -> String { names[Int(device.index)] }

    private func equals(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = Int(offsets[index])
        let end = Int(offsets[index + 1])
        guard end - start == bytes.count else { return false }
        return arena.withUnsafeBufferPointer { stored in
            for i in 0 ..< bytes.count where stored[start + i] != bytes[i] { return false }
            return true
        }
    }

    private mutating func grow() {
        var bigger = [Int32](repeating: -1, count: slots.count * 2)
        let mask = bigger.count - 1
        for index in 0 ..< names.count {
            var slot = Int(truncatingIfNeeded: hashes[index]) & mask
            while bigger[slot] >= 0 { slot = (slot + 1) & mask }
            bigger[slot] = Int32(index)
        }
        slots = bigger
    }

    /// FNV-1a, then a final avalanche so the low bits used for slots mix all bytes.
    @usableFromInline
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }
}

extension DeviceTable {
    /// The table as bytes; ``init(restoring:)`` gives back a table issuing the same ids.
    package func snapshot() -> [UInt8] {
        var writer = SnapshotWriter()
        writer.write(UInt32(0x5444_5654))  // "TDVT"
        writer.write(Int64(names.count))
        writer.write(array: offsets)
        writer.write(array: arena)
        return writer.bytes
    }

    /// Restores a table from ``snapshot()``.
    package init(restoring bytes: [UInt8]) throws(SnapshotError) {
        var reader = SnapshotReader(bytes)
        guard try reader.read(UInt32.self) == 0x5444_5654 else { throw .notASnapshot }
        let count = Int(try reader.read(Int64.self))
        let offsets: [Int32] = try reader.readArray()
        let arena: [UInt8] = try reader.readArray()
        guard offsets.count == count + 1, Int(offsets.last ?? 0) == arena.count else { throw .corrupt }
        self.init()
        arena.withUnsafeBytes { all in
            for i in 0 ..< count {
                let slice = UnsafeRawBufferPointer(rebasing: all[Int(offsets[i]) ..< Int(offsets[i + 1])])
                _ = intern(slice)
            }
        }
    }
}
