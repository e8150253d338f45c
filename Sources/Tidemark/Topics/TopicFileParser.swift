// Reads one topics file (`topics:` list of {name, partitions, replication, configs}) into
// `TopicDefinition`s, every problem at its file:line:column.
import Yams

struct TopicFileParser: ConfigNodeParser {
    let file: String
    var errors: [ConfigError] = []

    init(file: String) {
        self.file = file
    }

    /// A topic and where its name is (to report duplicates across files).
    struct Parsed {
        var topic: TopicDefinition
        var nameNode: Node
    }

    private static let topicKeys = ["name", "partitions", "replication", "configs"]

    /// The file's topics; those with errors are left out (and reported).
    mutating func parse(yaml: String) -> [Parsed] {
        guard let root = compose(yaml: yaml, whenEmpty: "empty topics file; expected 'topics:'"),
            let keys = mapping(root, in: "the topics file", allowed: ["topics"], required: ["topics"]),
            let list = keys["topics"]
        else { return [] }
        return sequence(list, what: "topics").compactMap { parseTopic($0) }
    }

    private mutating func parseTopic(_ node: Node) -> Parsed? {
        guard
            let keys = mapping(
                node, in: "a topic", allowed: Self.topicKeys, required: ["name", "partitions"])
        else { return nil }
        let nameNode = keys["name"]
        let name = nameNode.flatMap { topicName($0) }
        let partitions = keys["partitions"].flatMap { integer($0, what: "partitions", in: 1...Int(Int32.max)) }
        // Kafka's replication factor is an int16.
        let replicationNode = keys["replication"]
        let replication = replicationNode.flatMap { integer($0, what: "replication", in: 1...Int(Int16.max)) }
        var configs: [String: String]? = [:]
        if let node = keys["configs"] {
            configs = topicConfigs(node)
        }
        guard let name, let nameNode, let partitions, let configs, replicationNode == nil || replication != nil
        else { return nil }
        return Parsed(
            topic: TopicDefinition(name: name, partitions: partitions, replicationFactor: replication, configs: configs),
            nameNode: nameNode)
    }

    /// A name Kafka accepts; checked here so a typo fails before any topic is created.
    private mutating func topicName(_ node: Node) -> String? {
        guard let name = nonEmptyString(node, what: "name") else { return nil }
        let legal = name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
        guard legal, name.utf8.count <= 249, name != ".", name != ".." else {
            error(
                at: node,
                "invalid topic name '\(name)'; a topic name is 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-' (not '.' or '..')"
            )
            return nil
        }
        return name
    }

    /// `configs:` as Kafka names to values; a value is any single scalar, kept as written.
    private mutating func topicConfigs(_ node: Node) -> [String: String]? {
        guard let pairs = pairs(node, what: "configs") else { return nil }
        var configs: [String: String] = [:]
        var complete = true
        for (keyNode, valueNode) in pairs {
            guard let key = nonEmptyString(keyNode, what: "a config name"),
                let value = nonEmptyString(valueNode, what: "config '\(scalarText(keyNode))'")
            else {
                complete = false
                continue
            }
            configs[key] = value
        }
        return complete ? configs : nil
    }
}
