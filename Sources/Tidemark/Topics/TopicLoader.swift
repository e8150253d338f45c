// Loads topic definitions: one YAML file, or every *.yaml / *.yml file of a directory,
// reporting all errors across all files and checking topic names are unique.

/// Reads and validates topic files (`topics/*.yaml`).
///
/// A file holds a `topics:` list; each item is
/// `{name: N, partitions: P, replication: R, configs: {key: value}}`, where `name` and
/// `partitions` are required.
package enum TopicLoader {
    /// Loads the topics file at `path`, or every `*.yaml`/`*.yml` file (sorted by name, not
    /// recursive) if `path` is a directory. Topics come in file order, then list order.
    ///
    /// - Throws: every problem found, each as `file:line:column: error: message`.
    package static func load(path: String) throws(ConfigErrors) -> [TopicDefinition] {
        let (sources, readErrors) = try ConfigSources.read(path: path, kind: "topic files")
        let topics: [TopicDefinition]
        do {
            topics = try parse(sources)
        } catch {
            throw ConfigErrors(readErrors + error.errors)
        }
        guard readErrors.isEmpty else { throw ConfigErrors(readErrors) }
        return topics
    }

    /// Parses topic files already in memory; `file` names each in diagnostics.
    package static func parse(_ sources: [(file: String, yaml: String)]) throws(ConfigErrors) -> [TopicDefinition] {
        var topics: [TopicDefinition] = []
        var errors: [ConfigError] = []
        var firstByName: [String: String] = [:]
        for source in sources {
            var parser = TopicFileParser(file: source.file)
            for item in parser.parse(yaml: source.yaml) {
                if let first = firstByName[item.topic.name] {
                    parser.error(at: item.nameNode, "duplicate topic '\(item.topic.name)' (also defined at \(first))")
                    continue
                }
                firstByName[item.topic.name] = parser.position(item.nameNode)
                topics.append(item.topic)
            }
            errors += parser.errors
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return topics
    }
}
