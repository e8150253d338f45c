// A producer of the simulated cluster: records written when their acknowledgement falls due
// (in send order), delivery reports handed out by poll, and the transactional API.
import Kafka

/// A producer of a ``SimulatedCluster``; see ``KafkaProducerClient``.
package final class SimulatedProducer: KafkaProducerClient {
    unowned let cluster: SimulatedCluster
    let id: Int
    /// The simulated process it belongs to.
    package let owner: Int
    package let transactionalID: String?
    /// The consumer group whose offsets ``sendOffsetsToTransaction(_:group:timeout:)`` stores
    /// when the metadata passed is not one a simulated consumer handed out.
    package var group: String?

    /// A record sent and not yet acknowledged.
    struct InFlight {
        var token: UInt64
        var topic: String
        var partition: Int32
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [KafkaOutgoingHeader]
        var timestamp: Int64
        var due: Int64
        /// When it fails with `_MSG_TIMED_OUT` if not acknowledged by then (`message.timeout.ms`).
        var expires: Int64
        var transaction: Int?
        var refused: Bool
    }
    private var inFlight: [InFlight] = []
    private var reports: [KafkaDeliveryReport] = []
    private var errors: [KafkaError] = []
    private var lastTransportError: Int64?
    private var initialized = false
    /// The open transaction, if any.
    private(set) var transaction: Int?
    private var fencingError: KafkaError?
    /// `message.timeout.ms` (default 5 min; at most `transaction.timeout.ms`, default 60 s, for
    /// a transactional producer).
    let messageTimeoutMillis: Int64

    init(cluster: SimulatedCluster, id: Int, owner: Int, config: KafkaConfig) {
        self.cluster = cluster
        self.id = id
        self.owner = owner
        transactionalID = config["transactional.id"]
        group = config["tidemark.simulation.group"]
        // librdkafka lowers message.timeout.ms to transaction.timeout.ms for a transactional producer.
        let messageTimeout = config["message.timeout.ms"].flatMap { Int64($0) } ?? 300_000
        let transactionTimeout = config["transaction.timeout.ms"].flatMap { Int64($0) } ?? 60_000
        messageTimeoutMillis = transactionalID == nil ? messageTimeout : min(messageTimeout, transactionTimeout)
    }

    /// Its process crashed (``SimulatedCluster/crash(owner:)``).
    package private(set) var isCrashed = false
    private var isDead: Bool { isCrashed }

    /// When the next acknowledgement (while the broker is up) or message timeout falls due.
    func nextDue(brokerUp: Bool) -> Int64? {
        guard !isDead, let head = inFlight.first else { return nil }
        return brokerUp ? min(head.due, head.expires) : head.expires
    }

    /// Whether every record sent was acknowledged (or failed).
    package var isIdle: Bool { inFlight.isEmpty }

    // MARK: Acknowledgements

    /// Writes (or fails) every record whose acknowledgement is due while the broker is up,
    /// and fails those whose message timeout passed, in send order.
    func acknowledgeDue(brokerUp: Bool) {
        guard !isDead else { return }
        var done = 0
        while done < inFlight.count {
            let record = inFlight[done]
            if brokerUp && record.due <= cluster.nowMillis {
                write(record)
            } else if record.expires <= cluster.nowMillis {
                fail(record, KafkaError(code: -192, message: "sim: message timed out after \(messageTimeoutMillis) ms"))
            } else {
                break
            }
            done += 1
        }
        if done > 0 { inFlight.removeFirst(done) }
    }

    /// Reports a record that was not written; a transaction it belongs to can only abort.
    private func fail(_ record: InFlight, _ error: KafkaError) {
        if let transaction = record.transaction, cluster.transactions[transaction].failed == nil {
            cluster.transactions[transaction].failed = error
        }
        report(record, error: error)
    }

    private func write(_ record: InFlight) {
        if record.refused {
            fail(record, KafkaError(code: -192, message: "sim: delivery refused (message timed out)"))
            return
        }
        if let transaction = record.transaction, cluster.transactions[transaction].status != .open {
            report(
                record,
                error: cluster.transactions[transaction].failed
                    ?? KafkaError(code: KafkaError.invalidState, message: "sim: transaction ended"))
            return
        }
        guard
            let offset = cluster.append(
                topic: record.topic, partition: record.partition, key: record.key, value: record.value, headers: record.headers,
                timestamp: record.timestamp, transaction: record.transaction)
        else {
            report(record, error: KafkaError(code: KafkaError.unknownTopic, message: "sim: \(record.topic)[\(record.partition)] is gone"))
            return
        }
        reports.append(KafkaDeliveryReport(token: record.token, partition: record.partition, offset: offset, error: nil))
    }

    private func report(_ record: InFlight, error: KafkaError) {
        reports.append(
            KafkaDeliveryReport(
                token: record.token, partition: record.partition, offset: KafkaTopicPartition.unsetOffset, error: error,
                failedTopic: record.topic))
    }

    /// Its process crashed: each record in flight is written or lost by chance, a loss taking
    /// every later record of the partition with it; an open transaction aborts 5 s later.
    func crashed() {
        isCrashed = true
        var lost: Set<TopicPartition> = []
        for record in inFlight {
            let tp = TopicPartition(topic: record.topic, partition: record.partition)
            if record.refused || lost.contains(tp) || !cluster.random.chance(0.5) {
                lost.insert(tp)
                continue
            }
            if let transaction = record.transaction, cluster.transactions[transaction].status != .open { continue }
            _ = cluster.append(
                topic: record.topic, partition: record.partition, key: record.key, value: record.value, headers: record.headers,
                timestamp: record.timestamp, transaction: record.transaction)
        }
        inFlight = []
        reports = []
        if let transaction { cluster.scheduleAbort(transaction: transaction, afterMillis: 5_000) }
    }

    /// Another producer took its transactional id: its open transaction aborts, its records in
    /// flight fail, and its calls throw from now on.
    func fenced() {
        let error = KafkaError(code: -144, message: "sim: producer fenced by a newer instance of \(transactionalID ?? "?")")
        fencingError = error
        for record in inFlight { report(record, error: error) }
        inFlight = []
        if let transaction {
            cluster.endTransaction(transaction, commit: false)
            self.transaction = nil
        }
    }

    // MARK: Producing

    package func send(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaOutgoingHeader], timestamp: Int64?, token: UInt64
    ) throws(KafkaError) {
        guard !isDead else { return }
        if let fencingError { throw fencingError }
        noteTransportError()
        if transactionalID != nil && transaction == nil {
            throw KafkaError(code: KafkaError.invalidState, message: "sim: send outside a transaction")
        }
        guard let count = cluster.partitionCount(of: topic) else {
            throw KafkaError(code: KafkaError.unknownTopic, message: "sim: unknown topic \(topic)")
        }
        let key = key.map { Array($0) }
        let partition = partition ?? cluster.partition(forKey: key, partitions: count)
        guard partition >= 0 && partition < count else {
            throw KafkaError(code: KafkaError.unknownTopic, message: "sim: unknown partition \(topic)[\(partition)]")
        }
        let latency = Int64(cluster.random.int(in: Int(cluster.ackLatency.lowerBound)...Int(cluster.ackLatency.upperBound)))
        let due = max(inFlight.last?.due ?? .min, cluster.nowMillis + latency)
        inFlight.append(
            InFlight(
                token: token, topic: topic, partition: partition, key: key, value: value.map { Array($0) }, headers: headers,
                timestamp: timestamp ?? cluster.nowMillis, due: due, expires: cluster.nowMillis + messageTimeoutMillis,
                transaction: transaction,
                refused: cluster.takeRefusal(owner: owner)))
    }

    @discardableResult
    package func poll(timeout: Duration, _ onDelivery: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        guard !isDead else { return 0 }
        noteTransportError()
        if reports.isEmpty && fencingError == nil {
            cluster.run(until: cluster.nowMillis + simulatedMillis(timeout)) { !self.reports.isEmpty || self.isDead }
        }
        guard !isDead else { return 0 }
        let handed = reports
        reports = []
        for report in handed { try onDelivery(report) }
        return handed.count
    }

    package func flush(timeout: Duration) throws(KafkaError) {
        guard !isDead else { return }
        if let fencingError { throw fencingError }
        noteTransportError()
        guard cluster.run(until: cluster.nowMillis + simulatedMillis(timeout), { self.inFlight.isEmpty }) else {
            throw KafkaError(code: KafkaError.timedOut, message: "sim: flush (\(inFlight.count) messages in flight)")
        }
    }

    /// As the real producer: waits up to `timeout` for the topic (and the broker), then nil.
    package func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int32? {
        guard !isDead else { return nil }
        noteTransportError()
        let known = cluster.run(until: cluster.nowMillis + simulatedMillis(timeout)) {
            !self.cluster.isDown && self.cluster.partitionCount(of: topic) != nil
        }
        return known ? cluster.partitionCount(of: topic) : nil
    }

    package func takeErrors() -> [KafkaError] {
        defer { errors = [] }
        return errors
    }

    private func noteTransportError() {
        guard cluster.isDown else { return }
        if let last = lastTransportError, cluster.nowMillis - last < 1_000 { return }
        lastTransportError = cluster.nowMillis
        errors.append(cluster.transportError)
    }

    // MARK: Transactions

    /// Throws unless this is a live, unfenced transactional producer.
    private func checkTransactional(_ what: String) throws(KafkaError) {
        if isDead { throw KafkaError(code: KafkaError.timedOut, message: "sim: \(what) by a dead producer") }
        if let fencingError { throw fencingError }
        guard transactionalID != nil else {
            throw KafkaError(code: KafkaError.invalidState, message: "sim: \(what) without transactional.id")
        }
    }

    /// Waits `timeout` (at most) for the broker; throws a retriable timeout if it stays down.
    private func awaitBroker(_ timeout: Duration, _ what: String, until done: () -> Bool = { true }) throws(KafkaError) {
        let deadline = cluster.nowMillis + simulatedMillis(timeout)
        if cluster.run(until: deadline, { !self.cluster.isDown && (self.fencingError != nil || done()) }) {
            if let fencingError { throw fencingError }
            return
        }
        noteTransportError()
        var error = KafkaError(code: KafkaError.timedOut, message: "sim: \(what) timed out after \(timeout)")
        error.isRetriable = true
        throw error
    }

    package func initTransactions(timeout: Duration) throws(KafkaError) {
        try checkTransactional("initTransactions")
        try awaitBroker(timeout, "initTransactions")
        cluster.claim(transactionalID: transactionalID!, producer: id)
        initialized = true
    }

    package func beginTransaction() throws(KafkaError) {
        guard !isDead else { return }
        try checkTransactional("beginTransaction")
        guard initialized, transaction == nil else {
            throw KafkaError(
                code: KafkaError.invalidState,
                message: "sim: beginTransaction: \(initialized ? "a transaction is open" : "initTransactions first")")
        }
        transaction = cluster.beginTransaction(producer: id)
    }

    package func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartition], group: KafkaConsumerGroupMetadata, timeout: Duration
    ) throws(KafkaError) {
        try checkTransactional("sendOffsetsToTransaction")
        guard let transaction else {
            throw KafkaError(code: KafkaError.invalidState, message: "sim: sendOffsetsToTransaction outside a transaction")
        }
        guard let groupID = cluster.groupMetadata.first(where: { $0.metadata === group })?.group ?? self.group else {
            throw KafkaError(
                code: KafkaError.invalidArgument, message: "sim: sendOffsetsToTransaction: unknown group (set SimulatedProducer.group)")
        }
        try awaitBroker(timeout, "sendOffsetsToTransaction")
        guard cluster.transactions[transaction].status == .open else { return }
        cluster.transactions[transaction].offsets.append((groupID, offsets))
    }

    package func commitTransaction(timeout: Duration) throws(KafkaError) {
        try checkTransactional("commitTransaction")
        guard let transaction else {
            throw KafkaError(code: KafkaError.invalidState, message: "sim: commitTransaction outside a transaction")
        }
        try awaitBroker(timeout, "commitTransaction") { !inFlight.contains { $0.transaction == transaction } }
        let state = cluster.transactions[transaction]
        if let failed = state.failed
            ?? (state.status == .open ? nil : KafkaError(code: KafkaError.invalidState, message: "sim: transaction aborted"))
        {
            var error = failed
            error.message = "sim: commitTransaction: \(failed.message)"
            error.requiresTransactionAbort = true
            throw error
        }
        cluster.endTransaction(transaction, commit: true)
        self.transaction = nil
    }

    package func abortTransaction(timeout: Duration) throws(KafkaError) {
        try checkTransactional("abortTransaction")
        guard let transaction else {
            throw KafkaError(code: KafkaError.invalidState, message: "sim: abortTransaction outside a transaction")
        }
        try awaitBroker(timeout, "abortTransaction")
        // Records not yet written are purged, as librdkafka does on abort.
        let purge = KafkaError(code: -152, message: "sim: purged by abortTransaction")
        for record in inFlight where record.transaction == transaction { report(record, error: purge) }
        inFlight.removeAll { $0.transaction == transaction }
        cluster.endTransaction(transaction, commit: false)
        self.transaction = nil
    }
}
