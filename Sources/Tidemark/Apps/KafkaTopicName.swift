// Kafka's rules for topic names, checked where an app file names a topic, so a name the
// broker would refuse is reported at its file:line:column instead of failing every send.

enum KafkaTopicName {
    /// Kafka's limit (`Topic.MAX_NAME_LENGTH`), in bytes of the name.
    static let maxLength = 249

    /// Why `name` is not a legal Kafka topic name, or nil when it is one.
    static func problem(_ name: String) -> String? {
        if name == "." || name == ".." { return "'\(name)' is not a legal Kafka topic name" }
        let length = name.utf8.count
        if length > maxLength {
            return "topic name is \(length) bytes long; Kafka allows at most \(maxLength)"
        }
        let legal = name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
        guard legal else {
            return "'\(name)' is not a legal Kafka topic name: use only letters, digits, '.', '_' and '-'"
        }
        return nil
    }
}
