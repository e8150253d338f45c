// The prefetch budget of a fair consumer: how much memory records fetched ahead of the
// application may take across all partition queues, and the per-partition librdkafka
// bounds derived from it.
import CRdKafka

/// The memory a fair consumer lets librdkafka fill with prefetched records, across all
/// of its partition queues.
///
/// A consumer that is not fair has one queue, and librdkafka's `queued.max.messages.kbytes`
/// bounds it whatever the number of partitions (CONFIGURATION.md). With a queue per
/// partition librdkafka applies its bounds to each queue, so memory grows with the
/// assignment. A fair consumer therefore reads `queued.max.messages.kbytes` as the budget of
/// the whole consumer, as documented for one queue, and gives librdkafka a per-partition
/// bound derived from it (``partitionShare``); ``KafkaConsumer`` keeps the sum under the
/// budget by pausing partitions (see `KafkaConsumer+PrefetchBudget.swift`).
///
/// Costs are estimates of resident memory: a record's key and value, plus
/// ``recordOverhead`` for librdkafka's own bookkeeping of it.
struct PrefetchBudget {
    /// What librdkafka holds per queued record besides its key and value (the op, the
    /// message header, its share of the fetch response buffer): measured with librdkafka
    /// 2.0.2 on the mock cluster as 316 bytes for 50- and 200-byte values alike.
    static let recordOverhead = 320
    /// Partitions that may fill their whole share at once: a larger share lets one busy
    /// partition hold more (librdkafka 2.0.2 refills a full queue only when its broker
    /// thread wakes, up to a second later), a smaller one lets more partitions with unknown
    /// backlogs fetch side by side. Six gives a busy partition at least the 50,000 records
    /// `tidemark run` gave each partition before it had a budget (53,773 at 256 MiB).
    static let sharesPerBudget = 6
    /// Before any record of a partition was read, its records are assumed this large.
    static let assumedRecordSize = 512

    /// Bytes of estimated memory all partition queues may hold together.
    let total: Int
    /// The `queued.max.messages.kbytes` librdkafka is given, in bytes: the most one
    /// partition's queue holds before librdkafka stops fetching it.
    let partitionShare: Int
    /// The `queued.min.messages` librdkafka is given (per partition: as documented).
    let partitionMessages: Int
    /// `fetch.message.max.bytes`: what one fetch response may add to a queue past its bound.
    let fetchBytes: Int
    /// Whether the application asked for end-of-partition events; a budgeted consumer
    /// always has librdkafka emit them (they tell it a partition has caught up).
    let reportsEndOfPartition: Bool
    /// Whether a partition without a committed offset is read from its end (`auto.offset.reset`).
    let startsAtEnd: Bool

    /// The budget `config` sets (librdkafka's default, 64 MiB, when it sets none).
    init(config: KafkaConfig) throws(KafkaError) {
        let kilobytes = try Self.integer(config, "queued.max.messages.kbytes") ?? 65536
        guard kilobytes >= 1 else {
            throw KafkaError(
                code: KafkaError.invalidArgument, message: "queued.max.messages.kbytes must be at least 1",
                property: "queued.max.messages.kbytes")
        }
        total = kilobytes * 1024
        partitionShare = max(1024, total / Self.sharesPerBudget)
        let messages = try Self.integer(config, "queued.min.messages")
        // So that a full queue costs at most its share whatever its records weigh: the
        // worst case is records of share/messages bytes, which both bounds reach together.
        partitionMessages = messages ?? max(1, partitionShare / (Self.recordOverhead + Self.assumedRecordSize))
        let fetchBytes = try Self.integer(config, "fetch.message.max.bytes")
        let alias = try Self.integer(config, "max.partition.fetch.bytes")
        self.fetchBytes = fetchBytes ?? alias ?? 1_048_576
        reportsEndOfPartition = config["enable.partition.eof"] == "true"
        startsAtEnd = ["latest", "largest", "end"].contains(config["auto.offset.reset"] ?? "latest")
    }

    /// `config` as librdkafka must see it: per-partition bounds, and end-of-partition events on.
    func librdkafkaConfig(_ config: KafkaConfig) -> KafkaConfig {
        var config = config
        config["queued.max.messages.kbytes"] = String(max(1, partitionShare / 1024))
        config["queued.min.messages"] = String(partitionMessages)
        config["enable.partition.eof"] = "true"
        return config
    }

    /// The estimated memory of `messages` queued records of `averageSize` bytes.
    @inline(__always)
    func cost(messages: Int, averageSize: Int) -> Int {
        messages * (averageSize + Self.recordOverhead)
    }

    /// The most a partition's queue can cost while librdkafka fetches it: its bound, plus
    /// one fetch response that arrives after the bound was checked.
    func fullClaim(averageSize: Int) -> Int {
        let size = max(1, averageSize)
        let bounded = min(partitionMessages, partitionShare / size + 1)
        return cost(messages: bounded + fetchBytes / size + 1, averageSize: size)
    }

    private static func integer(_ config: KafkaConfig, _ name: String) throws(KafkaError) -> Int? {
        guard let text = config[name] else { return nil }
        guard let value = Int(text) else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "configuration property '\(name)' = '\(text)': not an integer", property: name)
        }
        return value
    }
}
