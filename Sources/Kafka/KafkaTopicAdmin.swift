// Topic creation on a real cluster through librdkafka's admin API
// (the embedded broker has no admin API: see EmbeddedKafkaBroker.createTopic).
import CRdKafka

/// A topic to create.
package struct KafkaNewTopic: Sendable, Hashable {
    /// The topic name.
    package var name: String
    /// The number of partitions.
    package var partitions: Int32
    /// The number of replicas of each partition.
    package var replicationFactor: Int32
    /// Topic configs, e.g. `retention.ms`, `cleanup.policy`.
    package var configs: [String: String]

    /// Creates a topic description.
    package init(name: String, partitions: Int32, replicationFactor: Int32 = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// Topic administration on a Kafka cluster.
package enum KafkaTopicAdmin {
    /// The number of partitions of each of `topics` that exists (from cluster metadata, which
    /// every broker serves; listing all topics never auto-creates one).
    package static func partitionCounts(
        of topics: [String], config: KafkaConfig, timeout: Duration
    ) throws(KafkaError) -> [String: Int32] {
        let rk = try makeClient(RD_KAFKA_PRODUCER, conf: try config.makeConf())
        defer { rd_kafka_destroy(rk) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try check(rd_kafka_metadata(rk, 1, nil, &metadata, milliseconds(timeout)), "read cluster metadata")
        defer { rd_kafka_metadata_destroy(metadata) }
        let wanted = Set(topics)
        var counts: [String: Int32] = [:]
        guard let metadata else { return counts }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            let name = String(cString: topic.topic)
            guard wanted.contains(name), topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            counts[name] = topic.partition_cnt
        }
        return counts
    }

    /// Creates `topics` (rd_kafka_CreateTopics) and waits for the result.
    ///
    /// - Parameters:
    ///   - config: client properties (`bootstrap.servers`, security settings, …).
    ///   - ignoreExisting: a topic that already exists is not an error.
    /// - Throws: the first per-topic error, or `_TIMED_OUT`.
    package static func createTopics(
        _ topics: [KafkaNewTopic], config: KafkaConfig, ignoreExisting: Bool = true, timeout: Duration
    ) throws(KafkaError) {
        guard !topics.isEmpty else { return }
        let rk = try makeClient(RD_KAFKA_PRODUCER, conf: try config.makeConf())
        defer { rd_kafka_destroy(rk) }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }

        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, &errstr, errstr.count) else {
                throw KafkaError(code: KafkaError.invalidArgument, message: "topic '\(topic.name)': \(string(fromNulTerminated: errstr))")
            }
            newTopics.append(newTopic)
            for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                try check(rd_kafka_NewTopic_set_config(newTopic, name, value), "topic '\(topic.name)' config '\(name)'")
            }
        }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds(timeout), &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds(timeout), &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(rk, buffer.baseAddress, buffer.count, options, queue)
        }

        // The admin request has its own timeout; the extra second lets its result arrive.
        guard let event = rd_kafka_queue_poll(queue, milliseconds(timeout) + 1000) else {
            throw KafkaError(code: KafkaError.timedOut, message: "create topics: no result in time")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(eventError, message: "create topics: \(String(cString: rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(code: KafkaError.invalidState, message: "create topics: unexpected event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for i in 0..<count {
            let topicResult = results[i]
            let err = rd_kafka_topic_result_error(topicResult)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR || (ignoreExisting && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
            throw KafkaError(err, message: "create topic '\(name)': \(text)")
        }
    }
}
