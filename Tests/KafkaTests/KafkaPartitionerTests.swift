// Kafka's default partitioner, as Java clients compute it: the test values are Java's
// murmur2 of each key, from Kafka's own UtilsTest.testMurmur2 and Akka's Murmur2Spec (checked
// against Kafka's Utils.murmur2).
import Kafka
import Testing

@Suite struct KafkaPartitionerTests {
    /// Java's `Utils.murmur2(key.getBytes(UTF_8))`, a signed 32-bit value.
    static let javaMurmur2: [(key: String, hash: Int32)] = [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107), ("1", -1_993_445_489), ("12", 126_087_238), ("123", -267_702_483),
        ("1234", -1_614_185_708), ("12345", -1_188_365_604),
    ]

    @Test(arguments: [Int32(1), 4, 7, 64, 1_000])
    func eachKeyGoesWhereJavaPutsIt(partitions: Int32) {
        for (key, hash) in Self.javaMurmur2 {
            var key = key
            let partition = key.withUTF8 { KafkaPartitioner.murmur2(UnsafeRawBufferPointer($0), partitions: partitions) }
            #expect(partition == Int32(bitPattern: UInt32(bitPattern: hash) & 0x7fff_ffff) % partitions, "\(key)")
        }
    }
}
