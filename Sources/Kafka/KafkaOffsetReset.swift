// An offset reset: the position a consumer fetched from was out of range, and librdkafka moved
// it where `auto.offset.reset` says. Records between the two are never read.

/// One partition's offset reset, as librdkafka logs it.
package struct KafkaOffsetReset: Sendable, Equatable {
    package var topic: String
    package var partition: Int32
    /// The offset that was out of range.
    package var from: Int64
    /// Where reading goes on, when librdkafka knew it (a cached watermark); nil when it asks
    /// the broker for the partition's beginning or end.
    package var to: Int64?
    /// Whether reading goes on at the partition's beginning (else its end).
    package var toBeginning: Bool
    /// librdkafka's reason, e.g. `fetch failed due to requested offset not available on the broker: Broker: Offset out of range`.
    package var reason: String

    package init(topic: String, partition: Int32, from: Int64, to: Int64?, toBeginning: Bool, reason: String) {
        self.topic = topic
        self.partition = partition
        self.from = from
        self.to = to
        self.toBeginning = toBeginning
        self.reason = reason
    }

    /// Reads librdkafka 2.0.2's warning
    /// `[thrd:main]: TOPIC [P]: offset reset (at offset N, broker B) to [cached ]BEGINNING|END[ offset M]: REASON`;
    /// nil for any other line (offset resets without an error are only debug-logged).
    package init?(logLine: String) {
        // librdkafka starts the lines of its own threads with `[thrd:NAME]: `.
        let line = logLine.hasPrefix("[thrd:") ? logLine.firstRange(of: "]: ").map { logLine[$0.upperBound...] } ?? logLine[...] : logLine[...]
        guard let bracket = line.firstRange(of: " ["), let close = line[bracket.upperBound...].firstRange(of: "]: offset reset (at offset "),
            let partition = Int32(line[bracket.upperBound..<close.lowerBound])
        else { return nil }
        let rest = line[close.upperBound...]
        guard let comma = rest.firstIndex(of: ","), let from = Int64(rest[..<comma]),
            let to = rest.firstRange(of: ") to ")
        else { return nil }
        let target = rest[to.upperBound...]
        let colon = target.firstRange(of: ": ")
        let where_ = target[..<(colon?.lowerBound ?? target.endIndex)]
        topic = String(line[..<bracket.lowerBound])
        self.partition = partition
        self.from = from
        toBeginning = where_.contains("BEGINNING")
        self.to = where_.split(separator: " ").last.flatMap { Int64($0) }
        reason = colon.map { String(target[$0.upperBound...]) } ?? ""
    }
}
