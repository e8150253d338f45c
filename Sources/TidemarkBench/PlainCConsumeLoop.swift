// The benchmark baseline: librdkafka's consumer driven by a plain C loop
// (tdk_bench_consume in CBenchBaseline), against which KafkaConsumer is measured.
import CBenchBaseline
import Kafka

/// What one consume run read and how long it took.
struct ConsumeMeasurement: Sendable {
    /// Messages read.
    var records: Int
    /// Sum of the value lengths.
    var valueBytes: Int
    /// Sum of the first byte of every value (keeps the payload read from being dead code).
    var firstByteSum: Int
    /// Seconds from the partition assignment to the last message.
    var seconds: Double

    /// Creates a measurement.
    init(records: Int, valueBytes: Int, firstByteSum: Int, seconds: Double) {
        self.records = records
        self.valueBytes = valueBytes
        self.firstByteSum = firstByteSum
        self.seconds = seconds
    }

    /// Messages per second.
    var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
    /// Value megabytes (MiB) per second.
    var mebibytesPerSecond: Double { seconds > 0 ? Double(valueBytes) / seconds / 1_048_576 : 0 }
}

/// The plain C consumer loop used as the baseline of `tidemark bench consume`.
enum PlainCConsumeLoop {
    /// Subscribes a consumer configured by `config` to `topic` and reads `records`
    /// messages with rd_kafka_consumer_poll in C, summing value lengths and first
    /// bytes; the clock starts when partitions are assigned. Closes the consumer.
    static func consume(config: KafkaConfig, topic: String, records: Int, timeout: Duration) throws(KafkaError) -> ConsumeMeasurement {
        let pairs = config.properties.sorted { $0.key < $1.key }
        let keys = pairs.map { duplicateCString($0.key) }
        let values = pairs.map { duplicateCString($0.value) }
        defer { for pointer in keys + values { pointer.deallocate() } }
        var errstr = [CChar](repeating: 0, count: 512)
        let result = keys.map { UnsafePointer($0) as UnsafePointer<CChar>? }.withUnsafeBufferPointer { keyBuffer in
            values.map { UnsafePointer($0) as UnsafePointer<CChar>? }.withUnsafeBufferPointer { valueBuffer in
                tdk_bench_consume(
                    keyBuffer.baseAddress, valueBuffer.baseAddress, pairs.count, topic, UInt64(records),
                    milliseconds(timeout), &errstr, errstr.count
                )
            }
        }
        if result.error != 0 {
            throw KafkaError(code: result.error, message: "plain C consume loop: \(string(fromNulTerminated: errstr))")
        }
        return ConsumeMeasurement(
            records: Int(result.records), valueBytes: Int(result.value_bytes),
            firstByteSum: Int(result.first_byte_sum), seconds: result.seconds
        )
    }

    private static func duplicateCString(_ text: String) -> UnsafeMutablePointer<CChar> {
        let bytes = text.utf8CString
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        bytes.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: bytes.count) }
        return pointer
    }
}
