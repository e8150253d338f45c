// Which input offsets of a shard may be committed: an offset is committed only once every
// record produced from the input before it is acknowledged by the broker (at least once,
// nothing lost), and never past a record whose delivery failed for good.

import Kafka

/// The commit bookkeeping of one shard: a token for each record its producer sends, the
/// broker's answers, and per partition the input positions processed with the last token
/// issued when they were.
///
/// Tokens are issued in increasing order by one producer, so "every output of this input is
/// safe" is "every token up to this one is acknowledged". Confined to the thread stepping the
/// shard, like the shard itself.
package struct CommitTracker {
    /// A partition of an input topic.

    /// A delivery that failed for good: the first one, which stops all commits after it.
    package struct Failure: Sendable, Equatable {
        package var token: UInt64
        package var reason: String
    }

    /// Every token up to and including this one is acknowledged.
    package private(set) var acknowledgedThrough: UInt64 = 0
    /// The last token issued.
    package private(set) var issued: UInt64 = 0
    /// The first delivery that failed; nothing processed after it is ever committable.
    package private(set) var failure: Failure?
    /// Acknowledgements of tokens after `acknowledgedThrough`, in a ring indexed by token.
    private var acknowledged: [Bool] = Array(repeating: false, count: 1024)
    /// Per partition: (next offset to read, last token issued when it was processed), oldest first.
    private var pending: [TopicPartition: [(offset: Int64, token: UInt64)]] = [:]
    /// Per partition, the next offset to read (committed or not).
    private var positions: [TopicPartition: Int64] = [:]

    package init() {}

    /// Records sent and not yet answered.
    package var inFlight: Int { Int(issued - acknowledgedThrough) }

    /// A token for the next record sent.
    package mutating func issue() -> UInt64 {
        issued += 1
        if inFlight >= acknowledged.count { grow() }
        acknowledged[slot(issued)] = false
        return issued
    }

    /// Records the broker's answer for `token`; `error` is nil when the record is written.
    package mutating func settle(_ token: UInt64, error: String?) {
        guard token > acknowledgedThrough, token <= issued else { return }
        if let error {
            // Never acknowledged: the prefix stops before it, so no offset processed after it
            // is committed and a restart reprocesses it.
            if failure == nil { failure = Failure(token: token, reason: error) }
            return
        }
        acknowledged[slot(token)] = true
        while acknowledgedThrough < issued && acknowledged[slot(acknowledgedThrough + 1)] {
            acknowledgedThrough += 1
            acknowledged[slot(acknowledgedThrough)] = false
        }
    }

    /// Records a failure that is not one delivery's (e.g. the producer failed fatally):
    /// nothing not acknowledged by now is ever committable.
    package mutating func fail(_ reason: String) {
        if failure == nil { failure = Failure(token: acknowledgedThrough + 1, reason: reason) }
    }

    /// Every token up to this one is acknowledged and none before it failed.
    private var safeThrough: UInt64 {
        guard let failure else { return acknowledgedThrough }
        return min(acknowledgedThrough, failure.token - 1)
    }

    /// Notes that everything before `nextOffset` in `partition` is processed, its outputs being
    /// the records sent so far.
    package mutating func processed(_ partition: TopicPartition, nextOffset: Int64) {
        positions[partition] = nextOffset
        if let last = pending[partition]?.last, last.token == issued {
            pending[partition]![pending[partition]!.count - 1].offset = nextOffset
        } else {
            pending[partition, default: []].append((nextOffset, issued))
        }
    }

    /// The offsets that may be committed now (each the next offset to read); they leave the
    /// pending list, so each is handed out once.
    package mutating func takeCommittable() -> [(partition: TopicPartition, offset: Int64)] {
        var result: [(partition: TopicPartition, offset: Int64)] = []
        let safeThrough = self.safeThrough
        for (partition, checkpoints) in pending {
            let safe = checkpoints.prefix { $0.token <= safeThrough }
            guard let last = safe.last else { continue }
            result.append((partition, last.offset))
            if safe.count == checkpoints.count {
                pending[partition] = nil
            } else {
                pending[partition] = Array(checkpoints.dropFirst(safe.count))
            }
        }
        return result
    }

    /// Forgets a partition that was taken away; returns its next offset to read, if known.
    @discardableResult
    package mutating func forget(_ partition: TopicPartition) -> Int64? {
        pending[partition] = nil
        return positions.removeValue(forKey: partition)
    }

    /// Every partition with its next offset to read.
    package var readPositions: [(partition: TopicPartition, offset: Int64)] {
        positions.map { ($0.key, $0.value) }
    }

    private func slot(_ token: UInt64) -> Int { Int(token % UInt64(acknowledged.count)) }

    private mutating func grow() {
        var wider = Array(repeating: false, count: acknowledged.count * 2)
        for token in (acknowledgedThrough + 1)..<issued {
            wider[Int(token % UInt64(wider.count))] = acknowledged[slot(token)]
        }
        acknowledged = wider
    }
}
