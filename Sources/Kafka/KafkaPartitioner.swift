// The partition Kafka's Java clients (and ksqlDB, Kafka Streams) choose for a key: murmur2 of
// the key bytes, made positive, modulo the partition count. Computed by librdkafka's own
// murmur2 partitioner, so it is the same function librdkafka's `murmur2_random` uses.
import CRdKafka

/// Kafka's default partitioner for keyed records.
package enum KafkaPartitioner {
    /// The partition of `key` among `partitions` (> 0) under Kafka's default murmur2 partitioner.
    package static func murmur2(_ key: UnsafeRawBufferPointer, partitions: Int32) -> Int32 {
        precondition(partitions > 0, "a topic has at least one partition")
        // librdkafka's partitioner function reads only the key and the count.
        return rd_kafka_msg_partitioner_murmur2(nil, key.baseAddress, key.count, partitions, nil, nil)
    }
}
