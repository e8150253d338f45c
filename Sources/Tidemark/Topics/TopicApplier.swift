// Creates declared topics on a cluster through the Kafka module's admin API, one topic a
// request so each topic's outcome (created, already there, refused) is known.
import Kafka

/// What applying one topic definition did.
package enum TopicApplyOutcome: Sendable, Equatable {
    /// The topic did not exist and was created.
    case created
    /// A topic of that name already exists; it was left as it is (partitions and configs
    /// are not compared or altered).
    case alreadyExists
}

/// Creates the topics of `topics/*.yaml` that a cluster lacks.
package enum TopicApplier {
    /// Creates `topic` unless it exists.
    ///
    /// - Parameters:
    ///   - config: client properties; `bootstrap.servers` and any security settings.
    ///   - timeout: how long the cluster may take to answer.
    /// - Throws: the cluster's refusal (e.g. `POLICY_VIOLATION`, `INVALID_REPLICATION_FACTOR`,
    ///   `INVALID_CONFIG`), or a client-side error such as `_TIMED_OUT` when no broker answers
    ///   or the cluster has no admin API (the embedded broker).
    package static func apply(
        _ topic: TopicDefinition, config: KafkaConfig, timeout: Duration
    ) throws(KafkaError) -> TopicApplyOutcome {
        let newTopic = KafkaNewTopic(
            name: topic.name, partitions: Int32(topic.partitions),
            // -1: the broker's default.replication.factor (CreateTopics v4+, Kafka 2.4+).
            replicationFactor: topic.replicationFactor.map { Int32($0) } ?? -1,
            configs: topic.configs)
        do {
            try KafkaTopicAdmin.createTopics([newTopic], config: config, ignoreExisting: false, timeout: timeout)
            return .created
        } catch where error.code == KafkaError.topicAlreadyExists {
            return .alreadyExists
        }
    }
}
