// librdkafka reports an offset reset only as a log line: these are the lines 2.0.2 writes.
import Kafka
import Testing

@Suite struct KafkaOffsetResetTests {
    @Test func aResetToTheBeginningQueriedFromTheBroker() {
        let line = "[thrd:main]: readings [0]: offset reset (at offset 100, broker 1) to BEGINNING: fetch failed due to requested offset not available on the broker: Broker: Offset out of range"
        #expect(
            KafkaOffsetReset(logLine: line)
                == KafkaOffsetReset(
                    topic: "readings", partition: 0, from: 100, to: nil, toBeginning: true,
                    reason: "fetch failed due to requested offset not available on the broker: Broker: Offset out of range"))
    }

    @Test func aResetToACachedEnd() {
        let line = "my.topic-1 [12]: offset reset (at offset 7, broker 3) to cached END offset 4096: fetch failed: Broker: Offset out of range"
        let reset = KafkaOffsetReset(logLine: line)
        #expect(reset?.topic == "my.topic-1")
        #expect(reset?.partition == 12)
        #expect(reset?.from == 7)
        #expect(reset?.to == 4096)
        #expect(reset?.toBeginning == false)
    }

    @Test(arguments: [
        "[thrd:main]: Partition readings [0] start fetching at offset 100",
        "readings [x]: offset reset (at offset 100, broker 1) to BEGINNING: r",
        "readings [0]: offset reset (at offset BEGINNING, broker 1) to END: r",
        "",
    ])
    func otherLinesAreNoReset(line: String) {
        #expect(KafkaOffsetReset(logLine: line) == nil)
    }
}
