// Which records of each input partition a state reading a repartition topic has taken, so that
// a record written there twice (a crash between writing it and committing its input offset)
// is taken once. Order is not enough to tell: a write that fails for good leaves a gap that
// later records of its partition pass (a message timeout, even with idempotence), and the
// record is written again after them. Each repartitioned record therefore says below which
// offset its input partition's records were all acknowledged when it was sent: those are
// ahead of it in its repartition partition, so a state that reads it has read them. Above
// that floor, the offsets taken are kept one by one: a few, the records in flight.

/// The origins a state has taken, per input partition.
package struct TakenOrigins: Equatable, Sendable {
    /// One input partition: every record below `floor` that is this state's was taken; at or
    /// above it, those in `taken` (ascending) were.
    package struct Partition: Equatable, Sendable {
        package var floor: Int64
        package var taken: [Int64]

        package init(floor: Int64 = .min, taken: [Int64] = []) {
            self.floor = floor
            self.taken = taken
        }
    }

    package private(set) var partitions: [Partition] = []

    package init() {}

    /// Takes the record at `offset` of input partition `partition`, sent when every record
    /// of the partition before `floor` was acknowledged; false if it was taken before.
    @inline(__always)
    package mutating func take(partition: Int32, offset: Int64, floor: Int64) -> Bool {
        let index = Int(partition)
        guard index >= 0 else { return false }
        if _slowPath(index >= partitions.count) {
            partitions.append(contentsOf: repeatElement(Partition(), count: index + 1 - partitions.count))
        }
        return partitions[index].take(offset, floor: floor)
    }

    /// The header text: per input partition in order, its floor and then the offsets taken
    /// above it, `/`-separated; partitions `,`-separated. Nil when nothing was taken.
    package var text: String? {
        partitions.isEmpty ? nil : partitions.map { ([$0.floor] + $0.taken).map(String.init).joined(separator: "/") }.joined(separator: ",")
    }

    /// The origins a header says; nil if it says something else.
    package init?(text: String) {
        for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
            let numbers = entry.split(separator: "/", omittingEmptySubsequences: false).map { Int64($0) }
            guard let floor = numbers.first ?? nil, !numbers.contains(nil) else { return nil }
            partitions.append(Partition(floor: floor, taken: numbers.dropFirst().map { $0! }.sorted()))
        }
    }
}

extension TakenOrigins.Partition {
    @inline(__always)
    fileprivate mutating func take(_ offset: Int64, floor newFloor: Int64) -> Bool {
        guard offset >= floor else { return false }
        let at = Self.firstIndex(in: taken, notBelow: offset)
        if at < taken.count && taken[at] == offset { return false }
        taken.insert(offset, at: at)
        if newFloor > floor {
            floor = newFloor
            let below = Self.firstIndex(in: taken, notBelow: newFloor)
            if below > 0 { taken.removeSubrange(0..<below) }
        }
        return true
    }

    /// The first index of ascending `taken` whose offset is at least `offset` (most offsets
    /// come last: the search starts from the end).
    @inline(__always)
    private static func firstIndex(in taken: [Int64], notBelow offset: Int64) -> Int {
        var index = taken.count
        while index > 0 && taken[index - 1] >= offset { index -= 1 }
        return index
    }
}
