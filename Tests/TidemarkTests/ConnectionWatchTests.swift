// What `/health` says about the cluster connection: silence is not trouble, failed connections,
// no assignment and failing commits are, once they outlast the patience, and each clears.
import Kafka
import Testing
import Tidemark

@Suite struct ConnectionWatchTests {
    let transport = KafkaError(code: -195, message: "Connect to ipv4#127.0.0.1:9092 failed: Connection refused")
    let allDown = KafkaError(code: -187, message: "1/1 brokers are down")

    @Test func anIdleServiceIsHealthy() {
        var watch = ConnectionWatch(patience: 10_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: false, at: 0)
        #expect(watch.status(at: 60_000) == .ok)
        #expect(!watch.isDisconnected(at: 60_000))
    }

    @Test func failedConnectionsLongerThanThePatienceDegradeUntilABrokerAnswers() {
        var watch = ConnectionWatch(patience: 10_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: false, at: 0)
        watch.error(allDown, at: 1_000)
        for second in 2...12 { watch.error(transport, at: Int64(second) * 1_000) }
        #expect(watch.isDisconnected(at: 5_000))
        #expect(watch.status(at: 10_500) == .ok, "not yet longer than the patience")
        #expect(watch.status(at: 12_500) == .degraded("no broker connection for 11 s"))
        watch.reachedBroker()
        #expect(watch.status(at: 13_000) == .ok)
        #expect(!watch.isDisconnected(at: 13_000))
    }

    @Test func connectionErrorsThatStopAreOverWithoutProof() {
        var watch = ConnectionWatch(patience: 1_000, reconnectBackoff: 1_000)
        watch.error(transport, at: 0)
        watch.error(transport, at: 30_000)
        #expect(watch.status(at: 30_500) == .degraded("no broker connection for 30 s"))
        // librdkafka reports a failed connection at least every 30 s while it has none
        // (suppressing identical ones in between): 35 s without one is a connection back.
        #expect(watch.status(at: 64_999) == .degraded("no broker connection for 64 s"))
        #expect(watch.status(at: 65_000) == .ok)
    }

    @Test func nothingReadWhileRecordsWaitIsAStall() {
        var watch = ConnectionWatch(patience: 10_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: false, at: 0)
        watch.progress(consumed: 100, lag: 50, at: 0)
        watch.progress(consumed: 200, lag: 50, at: 5_000)
        #expect(watch.status(at: 14_000) == .ok, "reading moves")
        watch.progress(consumed: 200, lag: 0, at: 6_000)
        watch.progress(consumed: 200, lag: nil, at: 7_000)
        #expect(watch.status(at: 20_000) == .ok, "nothing waits, or nobody knows")
        watch.progress(consumed: 200, lag: 40, at: 21_000)
        watch.progress(consumed: 200, lag: 40, at: 31_000)
        #expect(watch.status(at: 31_000) == .degraded("nothing read for 10 s while 40 records wait"))
        #expect(watch.persistentTrouble(at: 31_000, bound: 20_000) == nil)
        #expect(watch.persistentTrouble(at: 41_000, bound: 20_000) == "nothing read for 20 s while 40 records wait")
        watch.progress(consumed: 201, lag: 39, at: 42_000)
        #expect(watch.persistentTrouble(at: 90_000, bound: 20_000) == nil)
        #expect(watch.status(at: 90_000) == .ok)
    }

    @Test func noAssignmentIsNeverTroubleToRestartFor() {
        var watch = ConnectionWatch(patience: 1_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: true, at: 0)
        #expect(watch.persistentTrouble(at: 3_600_000, bound: 1_000) == nil, "a standby holds nothing, rightly")
        watch.committed(KafkaError(code: 25, message: "unknown member"), at: 0)
        #expect(watch.persistentTrouble(at: 3_000, bound: 2_000) == "offset commits failing for 3 s (UNKNOWN_MEMBER_ID: unknown member)")
    }

    @Test func skippedRecordsStayInTheStatus() {
        var watch = ConnectionWatch(patience: 1_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: false, at: 0)
        watch.skippedRecords("readings/0 offsets 100..<295")
        #expect(watch.status(at: 1_000_000) == .degraded("records skipped by offset resets: readings/0 offsets 100..<295"))
        #expect(watch.persistentTrouble(at: 1_000_000, bound: 1_000) == nil)
    }

    @Test func otherErrorsSayNothingAboutTheConnection() {
        var watch = ConnectionWatch(patience: 0, reconnectBackoff: 1_000)
        watch.error(KafkaError(code: 3, message: "unknown topic"), at: 0)
        #expect(watch.status(at: 100) == .ok)
    }

    @Test func noAssignmentForLongerThanThePatienceIsSaid() {
        var watch = ConnectionWatch(patience: 10_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: true, at: 0)
        #expect(watch.status(at: 9_999) == .ok)
        #expect(watch.status(at: 10_000) == .degraded("no partitions assigned for 10 s"))
        watch.assignment(isEmpty: false, at: 10_001)
        #expect(watch.status(at: 20_000) == .ok)
    }

    @Test func anAssignmentProvesTheConnection() {
        var watch = ConnectionWatch(patience: 1_000, reconnectBackoff: 1_000)
        watch.error(transport, at: 0)
        #expect(watch.isDisconnected(at: 500))
        watch.assignment(isEmpty: false, at: 600)
        #expect(!watch.isDisconnected(at: 700))
    }

    @Test func failingCommitsAreSaidWithTheirErrorAndClearOnSuccess() {
        var watch = ConnectionWatch(patience: 5_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: false, at: 0)
        let refused = KafkaError(code: 27, message: "Broker: Group rebalance in progress")
        watch.committed(refused, at: 1_000)
        watch.committed(refused, at: 4_000)
        #expect(watch.status(at: 6_000) == .degraded("offset commits failing for 5 s (REBALANCE_IN_PROGRESS: Broker: Group rebalance in progress)"))
        watch.committed(nil, at: 7_000)
        #expect(watch.status(at: 7_000) == .ok)
    }

    @Test func everyReasonIsSaid() {
        var watch = ConnectionWatch(patience: 1_000, reconnectBackoff: 1_000)
        watch.assignment(isEmpty: true, at: 0)
        watch.error(transport, at: 0)
        watch.error(transport, at: 1_500)
        #expect(watch.status(at: 2_000) == .degraded("no broker connection for 2 s; no partitions assigned for 2 s"))
    }
}
