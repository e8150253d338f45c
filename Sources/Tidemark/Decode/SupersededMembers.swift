// Duplicate keys in one JSON object: the last member of a key wins, as in most parsers. The
// decoder's slots follow that rule as they go; this finds the earlier members a trigger
// event's copied `value` must leave out, so no output repeats a key.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which members of a decoded record another member of the same key overrides later.
///
/// Reused across records: once its buffers have grown, marking allocates nothing unless the
/// record has over ``pairwiseLimit`` members or an escaped key.
struct SupersededMembers {
    /// Up to this many members, keys are compared pair by pair; beyond, through a table.
    static let pairwiseLimit = 32

    private var keys: [(start: Int, count: Int, escaped: Bool)] = []
    private var superseded: [Bool] = []

    /// Marks the members of `record` (ranges starting at each key's opening quote, as
    /// `RecordDecoder.otherMembers`) whose key some later member repeats.
    mutating func mark(record: UnsafeRawBufferPointer, members: [Range<Int>]) {
        keys.removeAll(keepingCapacity: true)
        superseded.removeAll(keepingCapacity: true)
        guard members.count > 1, let base = record.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            superseded.append(contentsOf: repeatElement(false, count: members.count))
            return
        }
        for member in members {
            var cursor = JSONCursor(base: base, count: record.count)
            cursor.index = member.lowerBound
            let key = cursor.scanQuoted()
            keys.append((key.start, key.count, key.escaped))
        }
        superseded.append(contentsOf: repeatElement(false, count: members.count))
        if members.count <= Self.pairwiseLimit {
            for i in 0..<keys.count {
                for j in (i + 1)..<keys.count where sameKey(i, j, base) {
                    superseded[i] = true
                    break
                }
            }
        } else {
            var last: [[UInt8]: Int] = [:]
            for index in keys.indices { last[key(index, base)] = index }
            for index in keys.indices where last[key(index, base)] != index { superseded[index] = true }
        }
    }

    /// Whether the member at `position` (as passed to ``mark(record:members:)``) is overridden.
    func isSuperseded(_ position: Int) -> Bool {
        position < superseded.count && superseded[position]
    }

    private func sameKey(_ i: Int, _ j: Int, _ base: UnsafePointer<UInt8>) -> Bool {
        let a = keys[i], b = keys[j]
        if !a.escaped && !b.escaped {
            return a.count == b.count && memcmp(base + a.start, base + b.start, a.count) == 0
        }
        return key(i, base) == key(j, base)
    }

    /// The unescaped bytes of a key.
    private func key(_ index: Int, _ base: UnsafePointer<UInt8>) -> [UInt8] {
        let key = keys[index]
        guard key.escaped else { return Array(UnsafeBufferPointer(start: base + key.start, count: key.count)) }
        var bytes: [UInt8] = []
        JSONCursor.unescape(base + key.start, count: key.count, into: &bytes)
        return bytes
    }
}
