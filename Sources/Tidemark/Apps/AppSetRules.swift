// The rules an app set must keep that no single file can break alone: app names are unique,
// no chain of apps writes into a topic that feeds it again (records would circle forever), and
// no app writes into a topic the group keeps for itself (its state would be overwritten).

/// Checks a set of apps as a whole.
enum AppSetRules {
    /// One app of a set being checked.
    struct Candidate {
        var app: AppDefinition
        /// Where its name and outputs are, when it comes from a fresh read of its file.
        var placement: AppPlacement?
        /// Whether it is new or changed: only such apps are refused; the others already run.
        var isFresh: Bool
    }

    /// A fresh app refused, and why.
    struct Refusal {
        var index: Int
        var error: ConfigError
    }

    /// The apps of `load` that keep the rules, and an error for each that does not.
    ///
    /// - Parameters:
    ///   - freshness: whether the app at an index of `load.apps` may be refused.
    ///   - group: the consumer group the apps run in, which names its internal topics; nil
    ///     where none is known (an app read for `batch`).
    static func check(
        _ load: AppDirectoryLoad, group: String?, freshness: (Int) -> Bool
    ) -> (apps: [AppDefinition], errors: [ConfigError]) {
        let candidates = load.apps.indices.map {
            Candidate(app: load.apps[$0], placement: load.placements[$0], isFresh: freshness($0))
        }
        let refusals = self.refusals(candidates, group: group)
        let refused = Set(refusals.map(\.index))
        return (load.apps.indices.filter { !refused.contains($0) }.map { load.apps[$0] }, refusals.map(\.error))
    }

    /// The fresh candidates that break a rule, in candidate order: a second app of one name
    /// (the one already running, else the first, keeps it), every fresh app writing into an
    /// internal topic of `group`, and every fresh app on a topic cycle, each reported at its
    /// output that leads round the cycle.
    static func refusals(_ candidates: [Candidate], group: String?) -> [Refusal] {
        var refusals: [Refusal] = []
        var refused = Set<Int>()
        func refuse(_ index: Int, at position: SourcePosition?, _ message: String) {
            refused.insert(index)
            refusals.append(Refusal(index: index, error: error(candidates[index], at: position, message)))
        }

        let keeperByName = keepers(of: candidates, by: \.name)
        for (index, candidate) in candidates.enumerated() where candidate.isFresh {
            let keeper = keeperByName[candidate.app.name]!
            guard keeper != index else { continue }
            let other = candidates[keeper]
            let otherPlace = other.placement.map { "\(other.app.sourceFile):\($0.name.line):\($0.name.column)" } ?? other.app.sourceFile
            refuse(index, at: candidate.placement?.name, "duplicate app name '\(candidate.app.name)' (also defined at \(otherPlace))")
        }

        if let group {
            let reserved = internalTopics(of: candidates.map(\.app), group: group)
            for (index, candidate) in candidates.enumerated() where candidate.isFresh && !refused.contains(index) {
                guard let output = candidate.app.outputTopics.first(where: { reserved[$0] != nil }) else { continue }
                refuse(
                    index, at: candidate.placement?.outputs[output],
                    "output topic '\(output)' is \(reserved[output]!) of group '\(group)'; write to a topic of your own")
            }
        }

        // All apps of one topic read it the same way: directly, or through its repartition
        // topic keyed by the same field (the topic holds one key). The first running app of
        // the topic, else the first app, sets the way.
        let wayOfTopic = keepers(of: candidates, by: \.input.topic, skipping: refused)
        for (index, candidate) in candidates.enumerated() where candidate.isFresh && !refused.contains(index) {
            let other = candidates[wayOfTopic[candidate.app.input.topic]!]
            guard way(of: candidate.app) != way(of: other.app) else { continue }
            refuse(
                index, at: candidate.placement?.name,
                "app '\(candidate.app.name)' reads '\(candidate.app.input.topic)' \(way(of: candidate.app)), but app '\(other.app.name)' reads it \(way(of: other.app)); all apps of a topic must read it one way")
        }

        let outputs = candidates.map(\.app.outputTopics)
        var readers: [String: [Int]] = [:]
        for index in candidates.indices where !refused.contains(index) {
            readers[candidates[index].app.input.topic, default: []].append(index)
        }
        for (index, candidate) in candidates.enumerated() where candidate.isFresh && !refused.contains(index) {
            let input = candidate.app.input.topic
            for output in outputs[index] where output != input {
                guard let path = path(from: output, to: input, readers: readers, outputs: outputs) else { continue }
                let steps = [(index, input, output)] + path
                let described = steps.map { "app '\(candidates[$0.0].app.name)' reads '\($0.1)' and writes '\($0.2)'" }
                refusals.append(
                    Refusal(
                        index: index,
                        error: error(
                            candidate, at: candidate.placement?.outputs[output],
                            "topic cycle: \(described.joined(separator: ", ")); records would go round these apps forever"
                        )))
                break
            }
        }
        return refusals.sorted { $0.index < $1.index }
    }

    /// Per value of `key`, the candidate that keeps its place: the first running one, else the
    /// first one.
    private static func keepers(
        of candidates: [Candidate], by key: (AppDefinition) -> String, skipping refused: Set<Int> = []
    ) -> [String: Int] {
        var keepers: [String: Int] = [:]
        for (index, candidate) in candidates.enumerated() where !refused.contains(index) {
            let value = key(candidate.app)
            guard let keeper = keepers[value] else {
                keepers[value] = index
                continue
            }
            if candidates[keeper].isFresh && !candidate.isFresh { keepers[value] = index }
        }
        return keepers
    }

    /// How an app reads its topic, in words.
    private static func way(of app: AppDefinition) -> String {
        guard app.input.repartitions, let field = app.input.deviceField else { return "directly (keyed by device)" }
        return "repartitioned by field '\(field)' (key: any)"
    }

    /// The names a group keeps for its own topics, each with what it holds: every app's
    /// changelog, and per input topic its changelog and its repartition topic.
    static func internalTopics(of apps: [AppDefinition], group: String) -> [String: String] {
        var names: [String: String] = [:]
        for app in apps {
            names[ChangelogTopic.name(group: group, app: app.name)] = "the changelog of app '\(app.name)'"
        }
        for topic in Set(apps.map(\.input.topic)) {
            names["\(group)-\(topic)-changelog"] = "reserved for the changelog of input topic '\(topic)'"
            names[RepartitionTopic.name(group: group, topic: topic)] = "reserved for the repartition topic of input topic '\(topic)'"
        }
        return names
    }

    /// The shortest chain of apps (app, read topic, written topic) carrying records from
    /// `start` to `target`, breadth first, so the same set always names the same cycle.
    private static func path(
        from start: String, to target: String, readers: [String: [Int]], outputs: [[String]]
    ) -> [(Int, String, String)]? {
        var reachedBy: [String: (app: Int, from: String)] = [start: (-1, "")]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let topic = queue[head]
            head += 1
            if topic == target {
                var steps: [(Int, String, String)] = []
                var current = target
                while current != start, let step = reachedBy[current] {
                    steps.append((step.app, step.from, current))
                    current = step.from
                }
                return steps.reversed()
            }
            for app in readers[topic] ?? [] {
                for next in outputs[app] where reachedBy[next] == nil {
                    reachedBy[next] = (app, topic)
                    queue.append(next)
                }
            }
        }
        return nil
    }

    private static func error(_ candidate: Candidate, at position: SourcePosition?, _ message: String) -> ConfigError {
        ConfigError(file: candidate.app.sourceFile, line: position?.line, column: position?.column, message: message)
    }

    /// `errors` grouped by file in `files` order (problems of the directory itself first),
    /// each file's in the order found.
    static func inFileOrder(_ errors: [ConfigError], files: [String]) -> [ConfigError] {
        var rank: [String: Int] = [:]
        for (index, file) in files.enumerated() where rank[file] == nil { rank[file] = index }
        return errors.enumerated().sorted { a, b in
            let (ra, rb) = (rank[a.element.file] ?? -1, rank[b.element.file] ?? -1)
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
    }
}
