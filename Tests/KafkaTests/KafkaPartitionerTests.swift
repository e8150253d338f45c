// Kafka's default partitioner, as Java clients compute it: the test values are Java's
// murmur2 of each key (Utils.murmur2), as published with kafkajs's Java-compatible partitioner.
import Kafka
import Testing

@Suite struct KafkaPartitionerTests {
    /// Java's `Utils.murmur2(key.getBytes())`, a signed 32-bit value.
    static let javaMurmur2: [(key: String, hash: Int32)] = [
        ("0", 272_173_970), ("1", 1_311_020_360), ("128", 2_053_105_854), ("2187", -2_081_355_488),
        ("16384", 204_404_061), ("78125", -677_491_393), ("279936", -622_460_209), ("823543", 651_276_451),
        ("2097152", 944_683_677), ("4782969", -892_695_770), ("10000000", -1_778_616_326),
        ("19487171", -518_311_627), ("35831808", 556_972_389), ("62748517", -233_806_557),
        ("105413504", -109_398_538), ("170859375", 102_939_717),
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
