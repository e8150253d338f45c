// The benchmark baseline: librdkafka's consumer driven by a plain C loop
// (tdk_bench_consume in the shim), against which KafkaConsumer is measured.
import CRdKafka

/// What one consume run read and how long it took.
public struct ConsumeMeasurement: Sendable {
    /// Messages read.
    public var records: Int
    /// Sum of the value lengths.
    public var valueBytes: Int
    /// Sum of the first byte of every value (keeps the payload read from being dead code).
    public var firstByteSum: Int
    /// Seconds from the partition assignment to the last message.
    public var seconds: Double

    /// Creates a measurement.
    public init(records: Int, valueBytes: Int, firstByteSum: Int, seconds: Double) {
        self.records = records
        self.valueBytes = valueBytes
        self.firstByteSum = firstByteSum
        self.seconds = seconds
    }

    /// Messages per second.
    public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
    /// Value megabytes (MiB) per second.
    public var mebibytesPerSecond: Double { seconds > 0 ? Double(valueBytes) / seconds / 1_048_576 : 0 }
}

/// The plain C consumer loop used as the baseline of `tidemark bench consume`.
public enum PlainCConsumeLoop {
    /// Subscribes a consumer configured by `config` to `topic` and reads `records`
    /// messages with rd_kafka_consumer_poll in C, summing value lengths and first
    /// bytes; the clock starts when partitions are assigned. Closes the consumer.
    public static func consume(config: KafkaConfig, topic: String, records: Int, timeout: Duration) throws(KafkaError) -> ConsumeMeasurement {
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
