// Changelog records as bytes: keys that tell the partition record from device records, and
// values that carry their position and compressed state, refuse a format they do not know and
// never trap on damaged bytes.
import Testing
import Tidemark

@Suite struct ChangelogFormatTests {
    @Test func keysTellThePartitionRecordFromDeviceRecords() {
        var key: [UInt8] = []
        ChangelogKey.appendDevice(UnsafeRawBufferPointer(start: nil, count: 0), to: &key)
        Array("dev-000017".utf8).withUnsafeBytes { ChangelogKey.appendDevice($0, to: &key) }
        #expect(key == [0x01, 0x01] + Array("dev-000017".utf8))
        ChangelogKey.partitionKey.withUnsafeBytes { #expect(ChangelogKey($0) == .partition) }
        Array("\u{1}dev-1".utf8).withUnsafeBytes { bytes in
            guard case .device(let device) = ChangelogKey(bytes) else { Issue.record("not a device key"); return }
            #expect(Array(device) == Array("dev-1".utf8))
        }
        for unknown: [UInt8] in [[], [0x02, 0x41], [0x00, 0x00]] {
            unknown.withUnsafeBytes { #expect(ChangelogKey($0) == nil, "\(unknown)") }
        }
    }

    @Test(arguments: [Int64(0), 1, 127, 128, 1_764_288_000_000, Int64.max])
    func aValueGivesBackItsPositionAndState(position: Int64) throws {
        let state = Array(repeating: Array("window 1764288000000 count 360 ".utf8), count: 20).flatMap { $0 }
        var value: [UInt8] = []
        state.withUnsafeBytes { ChangelogValue.append(signature: 0x0102_0304_0506_0708, position: position, state: $0, to: &value) }
        #expect(value.first == ChangelogValue.formatVersion)
        #expect(value.count < state.count / 4, "repetitive state compresses: \(value.count) bytes for \(state.count)")
        var restored: [UInt8] = []
        let read = try value.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) }
        #expect(read.signature == 0x0102_0304_0506_0708)
        #expect(read.position == position)
        #expect(restored == state)
    }

    @Test func anEmptyStateRoundTrips() throws {
        var value: [UInt8] = []
        ChangelogValue.append(signature: 1, position: 5, state: UnsafeRawBufferPointer(start: nil, count: 0), to: &value)
        var restored: [UInt8] = [1, 2, 3]
        #expect(try value.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) }.position == 5)
        #expect(restored.isEmpty)
    }

    @Test func aNewerFormatVersionIsRefusedByName() {
        var value: [UInt8] = []
        Array("state".utf8).withUnsafeBytes { ChangelogValue.append(signature: 1, position: 9, state: $0, to: &value) }
        value[0] = 7
        var restored: [UInt8] = []
        #expect(throws: ChangelogFormatError.unknownVersion(7)) { try value.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) } }
        #expect(ChangelogFormatError.unknownVersion(7).description == "format version 7, but this tidemark reads version 1 (written by a newer tidemark?)")
    }

    @Test func damagedValuesAreErrorsNotCrashes() {
        var value: [UInt8] = []
        Array(repeating: UInt8(ascii: "x"), count: 300).withUnsafeBytes { ChangelogValue.append(signature: 7, position: 1 << 40, state: $0, to: &value) }
        var restored: [UInt8] = []
        for cut in 0..<value.count {
            let prefix = Array(value[..<cut])
            #expect(throws: ChangelogFormatError.self, "cut at \(cut)") { try prefix.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) } }
        }
        let unterminated: [UInt8] = [ChangelogValue.formatVersion] + Array(repeating: 0, count: 8) + Array(repeating: 0xFF, count: 11)
        #expect(throws: ChangelogFormatError.truncated) { try unterminated.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) } }
        var garbage = value
        for index in 15..<garbage.count { garbage[index] = 0xFF }
        #expect(throws: ChangelogFormatError.corrupt) { try garbage.withUnsafeBytes { try ChangelogValue.read($0, state: &restored) } }
    }
}
