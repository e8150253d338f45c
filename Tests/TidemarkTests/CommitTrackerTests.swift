// The commit bookkeeping of a shard: an input offset becomes committable only once every
// output sent before it was processed is acknowledged, never past a failed delivery, and a
// revoked partition's pending offsets are gone.
import Kafka
import Testing
import Tidemark

@Suite struct CommitTrackerTests {
    let readings0 = TopicPartition(topic: "readings", partition: 0)
    let readings1 = TopicPartition(topic: "readings", partition: 1)
    let other0 = TopicPartition(topic: "other", partition: 0)

    /// The committable offsets, sorted, as `topic/partition@offset`.
    func committable(_ tracker: inout CommitTracker) -> [String] {
        tracker.takeCommittable().map { "\($0.partition.topic)/\($0.partition.partition)@\($0.offset)" }.sorted()
    }

    @Test func anOffsetWithoutOutputsIsCommittableAtOnceAndOnlyOnce() {
        var tracker = CommitTracker()
        tracker.processed(readings0, nextOffset: 10)
        #expect(committable(&tracker) == ["readings/0@10"])
        #expect(committable(&tracker) == [])
    }

    @Test func acknowledgementsOutOfOrderReleaseOffsetsOnlyWhenEveryEarlierOutputIsAcknowledged() {
        var tracker = CommitTracker()
        let first = tracker.issue()
        tracker.processed(readings0, nextOffset: 5)
        let second = tracker.issue()
        let third = tracker.issue()
        tracker.processed(readings0, nextOffset: 9)

        tracker.settle(third, error: nil)
        tracker.settle(second, error: nil)
        #expect(committable(&tracker) == [], "the first output is still in flight")
        #expect(tracker.inFlight == 3)

        tracker.settle(first, error: nil)
        #expect(tracker.inFlight == 0)
        #expect(committable(&tracker) == ["readings/0@9"], "the latest safe position, once")
    }

    @Test func aPartialPrefixReleasesTheOffsetsUpToIt() {
        var tracker = CommitTracker()
        let first = tracker.issue()
        tracker.processed(readings0, nextOffset: 5)
        _ = tracker.issue()
        tracker.processed(readings0, nextOffset: 9)
        tracker.settle(first, error: nil)
        #expect(committable(&tracker) == ["readings/0@5"])
    }

    @Test func aFailedDeliveryStopsEveryCommitAfterItAndIsReported() {
        var tracker = CommitTracker()
        let first = tracker.issue()
        tracker.processed(readings0, nextOffset: 3)
        let failed = tracker.issue()
        tracker.processed(readings0, nextOffset: 6)
        let later = tracker.issue()
        tracker.processed(readings1, nextOffset: 8)

        tracker.settle(first, error: nil)
        tracker.settle(failed, error: "MSG_SIZE_TOO_LARGE")
        tracker.settle(later, error: nil)
        #expect(tracker.failure?.token == failed && tracker.failure?.reason == "MSG_SIZE_TOO_LARGE")
        #expect(committable(&tracker) == ["readings/0@3"], "only what precedes the failure")
        #expect(committable(&tracker) == [])
    }

    @Test func aFailureOfTheClientFreezesWhatIsCommittableAtWhatIsAcknowledged() {
        var tracker = CommitTracker()
        let first = tracker.issue()
        tracker.processed(readings0, nextOffset: 3)
        let second = tracker.issue()
        tracker.processed(readings0, nextOffset: 6)
        tracker.settle(first, error: nil)
        tracker.fail("producer fenced")
        tracker.settle(second, error: nil)
        #expect(tracker.failure?.reason == "producer fenced")
        #expect(committable(&tracker) == ["readings/0@3"])
    }

    @Test func aRevokedPartitionLeavesNothingToCommitAndHandsBackItsPosition() {
        var tracker = CommitTracker()
        let token = tracker.issue()
        tracker.processed(readings0, nextOffset: 4)
        tracker.processed(readings1, nextOffset: 7)
        #expect(tracker.forget(readings0) == 4)
        #expect(tracker.forget(readings0) == nil)
        tracker.settle(token, error: nil)
        #expect(committable(&tracker) == ["readings/1@7"])
        #expect(tracker.readPositions.map(\.partition) == [readings1])
    }

    @Test func manyPartitionsOfOneShardEachCommitTheirOwnSafePosition() {
        var tracker = CommitTracker()
        var tokens: [UInt64] = []
        // 3 topics × 100 partitions, four rounds, interleaved: each partition's outputs go through one producer.
        for round in 0..<4 {
            for partition in 0..<100 {
                for topic in ["a", "b", "c"] {
                    tokens.append(tracker.issue())
                    tracker.processed(.init(topic: topic, partition: Int32(partition)), nextOffset: Int64(round * 10 + 1))
                }
            }
        }
        // The ring of acknowledgements outgrows its first size (1,024 in flight).
        #expect(tracker.inFlight == 1200)
        for token in tokens.reversed() { tracker.settle(token, error: nil) }
        let offsets = tracker.takeCommittable()
        #expect(offsets.count == 300)
        #expect(offsets.allSatisfy { $0.offset == 31 })
    }

    @Test func answersForUnknownOrRepeatedTokensChangeNothing() {
        var tracker = CommitTracker()
        let token = tracker.issue()
        tracker.processed(other0, nextOffset: 2)
        tracker.settle(token + 5, error: "not issued")
        tracker.settle(token, error: nil)
        tracker.settle(token, error: "a second answer")
        #expect(tracker.failure == nil)
        #expect(committable(&tracker) == ["other/0@2"])
    }
}
