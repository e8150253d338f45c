// Each app's state for input partition p lives in partition p of the compacted topic
// `<group>-<app>-changelog`. Before an app runs, its changelog (and, for an app that reads its
// input repartitioned, the repartition topic) must exist with the input topic's partition
// count: created where the cluster allows it, refused with a message that says how to create
// it where it does not (no admin rights, or the embedded broker, which has no admin API).
import Kafka

/// A topic an app needs besides its input: its changelog, or its input's repartition topic.
package struct ChangelogTopic: Sendable, Equatable {
    package var app: String
    package var name: String
    /// The topic whose partition count it has.
    package var inputTopic: String
    /// What it is, in messages.
    package var what = "changelog topic"
    package var configs = Self.configs

    package init(app: AppDefinition, group: String) {
        self.app = app.name
        name = Self.name(group: group, app: app.name)
        inputTopic = app.input.repartitionedFrom ?? app.input.topic
    }

    /// The repartition topic `app` reads, if it reads one (``AppDefinition/input`` with
    /// `key: any`): records are deleted by retention once read, like any topic's.
    package init?(repartitionOf app: AppDefinition, group: String) {
        guard app.input.repartitions else { return nil }
        self.app = app.name
        inputTopic = app.input.repartitionedFrom ?? app.input.topic
        name = RepartitionTopic.name(group: group, topic: inputTopic)
        what = "repartition topic"
        configs = [:]
    }

    /// The topics `apps` need, repartition topics first, each once.
    package static func needed(by apps: [AppDefinition], group: String) -> [ChangelogTopic] {
        var seen = Set<String>()
        let repartitions = apps.compactMap { ChangelogTopic(repartitionOf: $0, group: group) }.filter { seen.insert($0.name).inserted }
        return repartitions + apps.map { ChangelogTopic(app: $0, group: group) }
    }

    /// `<group>-<app>-changelog`.
    package static func name(group: String, app: String) -> String { "\(group)-\(app)-changelog" }

    /// Topic configs of a changelog: compaction keeps each device's newest state.
    package static let configs = ["cleanup.policy": "compact"]

    /// The topic definition for `partitions` partitions, as `topics apply` creates it.
    package func definition(partitions: Int) -> TopicDefinition {
        TopicDefinition(name: name, partitions: partitions, configs: configs)
    }
}

/// Why an app's changelog cannot be used.
package struct ChangelogSetupError: Error, CustomStringConvertible, Equatable {
    package var app: String
    package var description: String

    package init(app: String, description: String) {
        self.app = app
        self.description = description
    }
}

extension ChangelogTopic {
    /// Makes sure every changelog of `apps` exists with its input topic's partition count,
    /// creating the missing ones. Returns one error per app that cannot run (its input topic
    /// is missing, its changelog is missing and cannot be created, or has the wrong partition
    /// count).
    package static func ensure(
        _ changelogs: [ChangelogTopic], config: KafkaConfig, timeout: Duration
    ) -> [ChangelogSetupError] {
        guard !changelogs.isEmpty else { return [] }
        let counts: [String: Int32]
        do {
            counts = try KafkaTopicAdmin.partitionCounts(
                of: changelogs.flatMap { [$0.name, $0.inputTopic] }, config: config, timeout: timeout)
        } catch {
            return changelogs.map { .init(app: $0.app, description: "app \($0.app): cannot read the cluster's topics to check changelog \($0.name): \(error)") }
        }
        var errors: [ChangelogSetupError] = []
        for changelog in changelogs {
            guard let partitions = counts[changelog.inputTopic] else {
                errors.append(.init(app: changelog.app, description: "app \(changelog.app): input topic \(changelog.inputTopic) does not exist; create it first"))
                continue
            }
            if let existing = counts[changelog.name] {
                if existing != partitions {
                    errors.append(.init(
                        app: changelog.app,
                        description: "app \(changelog.app): \(changelog.what) \(changelog.name) has \(existing) partitions but its input topic \(changelog.inputTopic) has \(partitions); partition p of the input is kept in its partition p, so they must match: delete \(changelog.name) (what it holds is lost) or use another --group"))
                }
                continue
            }
            let topic = changelog.definition(partitions: Int(partitions))
            do {
                _ = try TopicApplier.apply(topic, config: config, timeout: timeout)
            } catch {
                errors.append(.init(
                    app: changelog.app,
                    description: "app \(changelog.app): \(changelog.what) \(changelog.name) does not exist and cannot be created (\(error.message)); create it with \(partitions) partitions\(changelog.configs.isEmpty ? "" : " and cleanup.policy=compact"), e.g. `tidemark topics apply --brokers … --apps DIR --group GROUP`, or on the embedded broker `tidemark dev-broker --apps DIR --group GROUP`"))
            }
        }
        return errors
    }
}
