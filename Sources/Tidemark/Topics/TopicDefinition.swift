// A Kafka topic as declared in topics/*.yaml: what `tidemark topics apply` creates.

/// One topic to create on a cluster.
package struct TopicDefinition: Sendable, Equatable {
    /// The topic name (Kafka's rules: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`).
    package var name: String
    /// The number of partitions, at least 1.
    package var partitions: Int
    /// Replicas per partition; nil leaves it to the cluster's `default.replication.factor`.
    package var replicationFactor: Int?
    /// Topic configs by Kafka name, e.g. `cleanup.policy: compact`, values as written.
    package var configs: [String: String]

    /// Creates a topic definition.
    package init(name: String, partitions: Int, replicationFactor: Int? = nil, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}
