// Which produced records the broker has acknowledged, so that an input offset is committed
// only once every output derived from it is safe (at least once, nothing lost).

/// Tokens for produced records, issued in increasing order, and the longest prefix of them
/// that is acknowledged.
struct DeliveryLedger {
    /// Every token up to and including this one is acknowledged.
    private(set) var acknowledgedThrough: UInt64 = 0
    /// The last token issued.
    private(set) var issued: UInt64 = 0
    /// Acknowledgements of tokens after `acknowledgedThrough`, in a ring indexed by token.
    private var acknowledged: [Bool] = Array(repeating: false, count: 1024)
    /// Deliveries that failed for good: nothing after the first may be committed.
    private(set) var failures = 0

    var inFlight: Int { Int(issued - acknowledgedThrough) }

    /// A token for the next produced record.
    mutating func issue() -> UInt64 {
        issued += 1
        if inFlight >= acknowledged.count { grow() }
        acknowledged[slot(issued)] = false
        return issued
    }

    /// Records the broker's answer for `token`.
    mutating func settle(_ token: UInt64, succeeded: Bool) {
        guard succeeded else {
            // A failed delivery is never acknowledged, so the prefix stops before it and no
            // input offset past it is committed: a restart reprocesses it.
            failures += 1
            return
        }
        guard token > acknowledgedThrough, token <= issued else { return }
        acknowledged[slot(token)] = true
        while acknowledgedThrough < issued && acknowledged[slot(acknowledgedThrough + 1)] {
            acknowledgedThrough += 1
            acknowledged[slot(acknowledgedThrough)] = false
        }
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

/// Per partition, input offsets processed and the output token they wait for.
struct OffsetCheckpoints {
    private struct Key: Hashable {
        var topic: String
        var partition: Int32
    }

    /// Per partition: (next offset to read, the last output token issued when it was processed).
    private var pending: [Key: [(offset: Int64, token: Token)]] = [:]
    private var nextOffsets: [Key: Int64] = [:]

    /// Notes that everything before `nextOffset` in the partition is processed, with its
    /// outputs up to `token`.
    mutating func processed(topic: String, partition: Int32, nextOffset: Int64, token: Token) {
        let key = Key(topic: topic, partition: partition)
        if let last = pending[key]?.last, last.token == token {
            pending[key]![pending[key]!.count - 1].offset = nextOffset
        } else {
            pending[key, default: []].append((nextOffset, token))
        }
        nextOffsets[key] = nextOffset
    }

    /// The offsets that may be committed now, given which tokens are acknowledged; they
    /// leave the pending list.
    mutating func committable(acknowledged: (Token) -> Bool) -> [(topic: String, partition: Int32, offset: Int64)] {
        var result: [(topic: String, partition: Int32, offset: Int64)] = []
        for (key, checkpoints) in pending {
            let safe = checkpoints.prefix { acknowledged($0.token) }
            guard let last = safe.last else { continue }
            result.append((key.topic, key.partition, last.offset))
            pending[key] = Array(checkpoints.dropFirst(safe.count))
        }
        return result
    }

    /// Forgets a partition that was taken away; returns its next offset to read, if known.
    @discardableResult
    mutating func forget(topic: String, partition: Int32) -> Int64? {
        let key = Key(topic: topic, partition: partition)
        pending[key] = nil
        return nextOffsets.removeValue(forKey: key)
    }

    /// Every partition with its next offset to read.
    var positions: [(topic: String, partition: Int32, position: Int64)] {
        nextOffsets.map { ($0.key.topic, $0.key.partition, $0.value) }
    }
}
