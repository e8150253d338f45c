// The librdkafka settings `tidemark run` starts from; every one can be overridden with
// `--property`.
import Kafka

enum KafkaClientDefaults {
    /// Consumer settings that keep latency low and memory bounded.
    static let consumer: [String: String] = [
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
        // The prefetch budget: a fair consumer keeps everything it has fetched ahead of
        // processing, across all its partitions, within this (KiB; `--prefetch-budget`). It
        // gives each partition a sixth as librdkafka's bound, because librdkafka 2.0.2
        // refills a full queue only when its broker thread next wakes, up to a second later
        // (librdkafka issue #2879; 2.2 added fetch.queue.backoff.ms), so a busy partition's
        // queue must hold that long of its records; partitions with a backlog take turns.
        "queued.max.messages.kbytes": "262144",
        "fetch.wait.max.ms": "100",
        // A changed topic set (an app on a new topic) rejoins the group; librdkafka's mock
        // broker then waits out the session timeout, so keep it at Kafka's former 10 s.
        "session.timeout.ms": "10000",
        "heartbeat.interval.ms": "1000",
        // After an outage, reach the coordinator again well within the session timeout.
        "reconnect.backoff.max.ms": "1000",
    ]

    static let producer: [String: String] = [
        "linger.ms": "5",
        "acks": "all",
        // Records keyed by a device id (trigger events; late records keyed by it) go where
        // Kafka's Java clients put that key, as results do: one partition per device.
        "partitioner": "murmur2_random",
        // A late record is its input record, unchanged: the producer must carry whatever the
        // consumer could read (its receive.message.max.bytes); a broker that refuses it fails
        // the delivery, loudly.
        "message.max.bytes": "100000000",
    ]
}
