// Topic/partition/offset triples and their conversion to and from
// rd_kafka_topic_partition_list_t.
import CRdKafka

/// A partition of a topic: what is assigned, restored, committed and revoked.
package struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    package var topic: String
    package var partition: Int32

    package init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic/partition`, as logs and messages name it.
    package var description: String { "\(topic)/\(partition)" }
}

/// A partition of a topic, with an offset whose meaning depends on the call:
/// the next offset to read (commit, store, seek), a timestamp (offsets-for-times
/// input) or ``KafkaTopicPartition/unsetOffset`` when irrelevant.
package struct KafkaTopicPartition: Hashable, Sendable, CustomStringConvertible {
    /// The topic name.
    package var topic: String
    /// The partition number.
    package var partition: Int32
    /// The offset (see the type's documentation), or a special offset.
    package var offset: Int64

    /// Creates a topic partition.
    package init(topic: String, partition: Int32, offset: Int64 = KafkaTopicPartition.unsetOffset) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// `partition` at `offset`.
    package init(_ partition: TopicPartition, offset: Int64 = KafkaTopicPartition.unsetOffset) {
        self.init(topic: partition.topic, partition: partition.partition, offset: offset)
    }

    /// The partition, without the offset.
    package var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// No offset (`RD_KAFKA_OFFSET_INVALID`).
    package static let unsetOffset: Int64 = tdk_offset_invalid()
    /// The oldest retained offset (`RD_KAFKA_OFFSET_BEGINNING`).
    package static let beginningOffset: Int64 = tdk_offset_beginning()
    /// The offset after the last message (`RD_KAFKA_OFFSET_END`).
    package static let endOffset: Int64 = tdk_offset_end()
    /// The committed offset of the group (`RD_KAFKA_OFFSET_STORED`).
    package static let storedOffset: Int64 = tdk_offset_stored()

    /// `topic[partition]@offset`.
    package var description: String { "\(topic)[\(partition)]@\(offset)" }
}

/// An owned rd_kafka_topic_partition_list_t, destroyed with the value.
final class TopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ partitions: some Collection<KafkaTopicPartition>) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: partitions.count))
        for tp in partitions {
            let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
            element.pointee.offset = tp.offset
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var partitions: [KafkaTopicPartition] { Self.read(pointer) }

    /// The first per-partition error, if any.
    func firstError(_ what: String) -> KafkaError? { Self.firstError(in: pointer, what) }

    /// The first partition of `list` with an error, as an error naming it and `what` failed.
    static func firstError(in list: UnsafePointer<rd_kafka_topic_partition_list_t>, _ what: String) -> KafkaError? {
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[i]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let tp = "\(String(cString: element.topic))[\(element.partition)]"
                return KafkaError(element.err, message: "\(what) \(tp): \(String(cString: rd_kafka_err2str(element.err)))")
            }
        }
        return nil
    }

    static func read(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        var result: [KafkaTopicPartition] = []
        result.reserveCapacity(Int(list.pointee.cnt))
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[i]
            result.append(
                KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition, offset: element.offset)
            )
        }
        return result
    }
}
