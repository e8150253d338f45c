// Device interning: stable dense ids from bytes, names back for output, snapshots.
import Streaming
import Testing

@Suite struct DeviceTableTests {
    @Test func theSameBytesGetTheSameIdAndNamesComeBack() {
        var table = DeviceTable()
        var ids: [DeviceID] = []
        for i in 0 ..< 5_000 { ids.append(table.intern("dev-\(i)")) }
        #expect(ids.map(\.index) == Array(0 ..< 5_000))
        for i in stride(from: 0, to: 5_000, by: 97) {
            var name = "dev-\(i)"
            let id = name.withUTF8 { table.intern(UnsafeRawBufferPointer($0)) }
            #expect(id == ids[i])
            #expect(table.name(of: id) == name)
        }
        #expect(table.count == 5_000)
        var missing = "nope"
        #expect(missing.withUTF8 { table.lookup(UnsafeRawBufferPointer($0)) } == nil)
        #expect(table.intern("") == DeviceID(5_000))
    }

    @Test func aRestoredTableIssuesTheSameIds() throws {
        var table = DeviceTable()
        for i in 0 ..< 300 { _ = table.intern("device \(i) ü") }
        var restored = try DeviceTable(restoring: table.snapshot())
        #expect(restored.count == 300)
        #expect(restored.name(of: DeviceID(17)) == "device 17 ü")
        #expect(restored.intern("device 42 ü") == DeviceID(42))
        #expect(restored.intern("new") == DeviceID(300))
    }
}
