// Where the runtime gets its Kafka clients and its clock: librdkafka and the machine's clocks
// in `tidemark run`, an in-memory cluster and its simulated time in the runtime simulation.
import Foundation
import Kafka

/// Makes the runtime's Kafka clients and tells its time.
package protocol KafkaClientFactory: Sendable {
    /// A consumer; `rebalance` is called inside its `poll` and `close` when the group's
    /// assignment changes.
    func consumer(
        config: KafkaConfig, fairPartitions: Bool, rebalance: ((KafkaRebalanceEvent) -> Void)?
    ) throws(KafkaError) -> any KafkaConsumerClient
    func producer(config: KafkaConfig) throws(KafkaError) -> any KafkaProducerClient
    /// Creates the changelog topics that do not exist yet; returns what is wrong with any.
    func ensure(_ changelogs: [ChangelogTopic], config: KafkaConfig, timeout: Duration) -> [ChangelogSetupError]
    /// Now, for deadlines and durations.
    func now() -> ContinuousClock.Instant
    /// Whether restores run on the consumer loop's thread, inside its turn, instead of a
    /// thread of their own: the simulation's, where nothing may run between its steps.
    var restoresInline: Bool { get }
}

/// librdkafka's clients and the machine's monotonic clock.
package struct LiveKafkaClients: KafkaClientFactory {
    package init() {}

    package func consumer(
        config: KafkaConfig, fairPartitions: Bool, rebalance: ((KafkaRebalanceEvent) -> Void)?
    ) throws(KafkaError) -> any KafkaConsumerClient {
        try KafkaConsumer(config: config, fairPartitions: fairPartitions, rebalanceHandler: rebalance.map { handler in { _, event in handler(event) } })
    }

    package func producer(config: KafkaConfig) throws(KafkaError) -> any KafkaProducerClient {
        try KafkaProducer(config: config)
    }

    package func ensure(_ changelogs: [ChangelogTopic], config: KafkaConfig, timeout: Duration) -> [ChangelogSetupError] {
        ChangelogTopic.ensure(changelogs, config: config, timeout: timeout)
    }

    package func now() -> ContinuousClock.Instant { .now }

    package var restoresInline: Bool { false }
}

extension KafkaClientFactory {
    /// The time left until `deadline`, never negative.
    func remaining(until deadline: ContinuousClock.Instant) -> Duration {
        max(.zero, deadline - now())
    }
}
