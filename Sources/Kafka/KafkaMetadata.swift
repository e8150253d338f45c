// Cluster metadata both clients ask for: how many partitions a topic has.
import CRdKafka

/// The number of partitions of the topic `rkt` names, from cluster metadata, asked of the
/// client `handle` until `timeout` (a topic the cluster is still creating has none yet);
/// nil if it does not exist by then. `wait` spends the time between two asks.
func partitionCount(
    handle: OpaquePointer, rkt: OpaquePointer, topic: String, timeout: Duration, wait: () -> Void
) throws(KafkaError) -> Int32? {
    let deadline = ContinuousClock.now + timeout
    while true {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let remaining = max(.milliseconds(1), deadline - ContinuousClock.now)
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, milliseconds(remaining))
        if err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata {
            defer { rd_kafka_metadata_destroy(metadata) }
            if metadata.pointee.topic_cnt > 0, metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR,
                metadata.pointee.topics[0].partition_cnt > 0
            {
                return metadata.pointee.topics[0].partition_cnt
            }
        } else if err != RD_KAFKA_RESP_ERR__TIMED_OUT {
            try check(err, "metadata of \(topic)")
        }
        guard ContinuousClock.now < deadline else { return nil }
        wait()
    }
}
