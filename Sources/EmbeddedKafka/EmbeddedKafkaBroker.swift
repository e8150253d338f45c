// An in-process Kafka cluster on loopback (librdkafka's mock cluster) for tests,
// the demo and `tidemark dev-broker`, with fault injection.
import CRdKafka
import Glibc
import Kafka
import Synchronization

/// A mock Kafka cluster of one or more brokers on 127.0.0.1, speaking the real
/// wire protocol (produce, fetch, groups, idempotence, transactions).
///
/// Serves until ``stop()`` or deinit. Limits of librdkafka 2.0.2's mock: about
/// 5 MiB or 100,000 batches retained per partition, no admin API (create topics
/// with ``createTopic(_:partitions:replicationFactor:)``; unknown topics are
/// auto-created with 4 partitions), plaintext only, random ports.
/// Broker ids are 1...brokers.
package final class EmbeddedKafkaBroker: Sendable {
    // @unchecked Sendable: the mock cluster API is thread-safe (each call posts an
    // operation to the cluster's own thread), and the handles are only destroyed
    // under the mutex in stop().
    private struct Cluster: @unchecked Sendable {
        var client: OpaquePointer?
        var cluster: OpaquePointer?
    }

    // The mock cluster is thread-safe internally (calls are posted to its own
    // thread); the mutex only orders them against stop().
    private let state: Mutex<Cluster>

    /// The bootstrap address list, e.g. `127.0.0.1:39215`.
    package let bootstrapServers: String

    /// The number of brokers.
    package let brokerCount: Int

    /// The brokers' ports on 127.0.0.1: a connection to one wakes the mock cluster's thread.
    private let brokerPorts: [UInt16]

    /// Starts `brokers` mock brokers on loopback.
    package init(brokers: Int = 1) throws(KafkaError) {
        // The mock cluster needs an rd_kafka_t of its own: a producer used for
        // nothing else, destroyed with the cluster.
        let conf = try KafkaConfig(["log_level": "3"]).makeConf()
        let client = try makeClient(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(client, Int32(brokers)) else {
            rd_kafka_destroy(client)
            throw KafkaError(code: KafkaError.invalidState, message: "cannot start the embedded broker")
        }
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        brokerCount = brokers
        brokerPorts = bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } }
        state = Mutex(Cluster(client: client, cluster: cluster))
    }

    deinit { stop() }

    /// Stops all brokers; later calls fail with `_STATE`. Idempotent.
    package func stop() {
        state.withLock { state in
            if let cluster = state.cluster { rd_kafka_mock_cluster_destroy(cluster) }
            if let client = state.client { rd_kafka_destroy(client) }
            state.cluster = nil
            state.client = nil
        }
    }

    private func withCluster(_ what: String, _ body: (OpaquePointer) -> rd_kafka_resp_err_t) throws(KafkaError) {
        let err: rd_kafka_resp_err_t? = state.withLock { state in state.cluster.map(body) }
        guard let err else { throw KafkaError(code: KafkaError.invalidState, message: "\(what): the embedded broker is stopped") }
        try check(err, what)
    }

    /// Creates a topic (the mock has no CreateTopics API).
    package func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        try createTopics([KafkaNewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor)])
    }

    /// Creates topics in order, thousands a second, and stops at the first that fails (one
    /// that exists fails). Topic configs are ignored: the mock has none.
    package func createTopics(_ topics: [KafkaNewTopic]) throws(KafkaError) {
        guard !topics.isEmpty else { return }
        let names = topics.map { UnsafePointer(strdup($0.name)) }
        defer { for name in names { free(UnsafeMutablePointer(mutating: name)) } }
        var failed = 0
        let err: rd_kafka_resp_err_t? = state.withLock { state in
            state.cluster.map { cluster in
                tdk_mock_topics_create(
                    cluster, names, topics.map(\.partitions), topics.map(\.replicationFactor), topics.count, brokerPorts,
                    brokerPorts.count, &failed)
            }
        }
        guard let err else { throw KafkaError(code: KafkaError.invalidState, message: "create topics: the embedded broker is stopped") }
        try check(err, "create topic '\(topics[failed].name)'")
    }

    /// Takes a broker down: connections are closed and new ones refused.
    package func setBrokerDown(_ broker: Int32) throws(KafkaError) {
        try withCluster("broker \(broker) down") { rd_kafka_mock_broker_set_down($0, broker) }
    }

    /// Brings a broker taken down back up.
    package func setBrokerUp(_ broker: Int32) throws(KafkaError) {
        try withCluster("broker \(broker) up") { rd_kafka_mock_broker_set_up($0, broker) }
    }

    /// Delays every response of a broker by `roundTripTime`.
    package func setRoundTripTime(broker: Int32, _ roundTripTime: Duration) throws(KafkaError) {
        try withCluster("broker \(broker) rtt") { rd_kafka_mock_broker_set_rtt($0, broker, milliseconds(roundTripTime)) }
    }

    /// Makes the next requests with Kafka API key `apiKey` (e.g. 0 Produce, 1 Fetch)
    /// fail with `errors` (librdkafka error codes), one per request, in order.
    package func pushRequestErrors(apiKey: Int16, errors: [Int32]) throws(KafkaError) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        try withCluster("push request errors") { cluster in
            codes.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
            }
            return RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Moves the leadership of a partition to `broker`.
    package func setPartitionLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        try withCluster("leader of \(topic)[\(partition)]") { rd_kafka_mock_partition_set_leader($0, topic, partition, broker) }
    }

    /// Makes `broker` the coordinator of a group (`type` "group") or transactional id (`type` "transaction").
    package func setCoordinator(type: String, key: String, broker: Int32) throws(KafkaError) {
        try withCluster("coordinator of \(key)") { rd_kafka_mock_coordinator_set($0, type, key, broker) }
    }
}
