// The runtime's Kafka clients and clock for one simulated process: the in-memory cluster's
// clients, owned by the process so that a crash silences all of them at once.
import Foundation
import Kafka
import KafkaSimulation
import Tidemark

/// Clients of one incarnation of a simulated process.
///
/// @unchecked Sendable: the simulation is one thread; the runtime's restorer runs inline
/// (``restoresInline``), so no other thread ever reaches the cluster.
final class SimulatedClients: KafkaClientFactory, @unchecked Sendable {
    let cluster: SimulatedCluster
    /// The simulated process these clients belong to.
    let owner: Int
    let group: String
    let sabotage: Sabotage?
    let forgedOrigins: ForgedOrigins

    init(cluster: SimulatedCluster, owner: Int, group: String, sabotage: Sabotage?, forgedOrigins: ForgedOrigins) {
        self.cluster = cluster
        self.owner = owner
        self.group = group
        self.sabotage = sabotage
        self.forgedOrigins = forgedOrigins
    }

    func consumer(
        config: KafkaConfig, fairPartitions: Bool, rebalance: ((KafkaRebalanceEvent) -> Void)?
    ) throws(KafkaError) -> any KafkaConsumerClient {
        cluster.consumer(owner: owner, config: config, rebalance: rebalance)
    }

    func producer(config: KafkaConfig) throws(KafkaError) -> any KafkaProducerClient {
        let producer = cluster.producer(owner: owner, config: config)
        producer.group = group
        switch sabotage {
        case nil: return producer
        case .acknowledgesLostResults: return ResultLosingProducer(base: producer)
        case .takesEveryOrigin: return OriginForgingProducer(base: producer, origins: forgedOrigins)
        }
    }

    /// Creates missing changelogs and repartition topics with their input topic's partitions,
    /// as `run` does where the cluster lets it.
    func ensure(_ changelogs: [ChangelogTopic], config: KafkaConfig, timeout: Duration) -> [ChangelogSetupError] {
        var problems: [ChangelogSetupError] = []
        for changelog in changelogs {
            guard let partitions = cluster.partitionCount(of: changelog.inputTopic) else {
                problems.append(.init(app: changelog.app, description: "input topic \(changelog.inputTopic) does not exist"))
                continue
            }
            if cluster.partitionCount(of: changelog.name) == nil { cluster.createTopic(changelog.name, partitions: partitions) }
        }
        return problems
    }

    func now() -> ContinuousClock.Instant { cluster.instant }

    var restoresInline: Bool { true }
}
