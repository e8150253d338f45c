// `tidemark topics apply --brokers HOST:PORT DIR [--apps DIR --group G]`: creates the topics of
// topics/*.yaml that the cluster lacks, one line per topic, then the apps' changelog topics;
// existing topics are left as they are.
import ArgumentParser
import Foundation
import Kafka
import Tidemark

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Manage the Kafka topics that apps read and write.",
        subcommands: [TopicsApplyCommand.self])
}

struct TopicsApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Create the topics of topic files that the cluster lacks.",
        discussion: """
            Each file holds a `topics:` list of {name, partitions, replication, configs}. \
            A topic that already exists is reported and left unchanged. With --apps, also the \
            apps' changelog topics (<group>-<app>-changelog, compacted, as many partitions as \
            the app's input topic, which must exist by then). The embedded broker \
            (tidemark dev-broker) has no admin API: create its topics with \
            `dev-broker --topics DIR --apps DIR --group G`.
            """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "Seconds the cluster may take to answer each request.")
    var timeout: Double = 15

    @Argument(help: "A directory of topic files (*.yaml, *.yml), or one topic file.")
    var path: String?

    @OptionGroup var changelog: ChangelogOptions

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be greater than zero") }
        guard path != nil || changelog.apps != nil else { throw ValidationError("give topic files, --apps, or both") }
    }

    func run() async throws {
        let (topics, changelogs) = try loadingConfiguration { () throws(ConfigErrors) in
            let topics = try path.map { (path) throws(ConfigErrors) in try TopicLoader.load(path: path) } ?? []
            let changelogs = try changelog.apps.map { (apps) throws(ConfigErrors) in
                ChangelogTopic.needed(by: try AppLoader.load(path: apps, group: changelog.group), group: changelog.group)
            } ?? []
            return (topics, changelogs)
        }
        let config = kafka.config()
        let wait = Duration.milliseconds(Int64(timeout * 1000))
        var refused = 0
        for topic in topics {
            do throws(KafkaError) {
                switch try TopicApplier.apply(topic, config: config, timeout: wait) {
                case .created: print("\(topic.name): created (\(Self.summary(topic)))")
                case .alreadyExists: print("\(topic.name): already exists")
                }
            } catch where error.code < 0 {
                // A client-side error (no broker, no controller, bad property) would repeat
                // for every topic: stop at the first.
                print("\(topic.name): failed")
                printError(Self.explain(error, brokers: kafka.brokers, timeout: timeout))
                throw ExitCode.failure
            } catch {
                // The cluster refused this topic (policy, replication, config): try the others.
                print("\(topic.name): failed: \(error.name): \(error.message)")
                refused += 1
            }
        }
        if refused > 0 {
            printError("error: \(refused) of \(topics.count) topics could not be created")
            throw ExitCode.failure
        }
        let problems = ChangelogTopic.ensure(changelogs, config: config, timeout: wait)
        for changelog in changelogs where !problems.contains(where: { $0.app == changelog.app }) {
            print("\(changelog.name): ready")
        }
        for problem in problems { printError("error: \(problem)") }
        if !problems.isEmpty { throw ExitCode.failure }
    }

    static func summary(_ topic: TopicDefinition) -> String {
        var parts = ["\(topic.partitions) partition\(topic.partitions == 1 ? "" : "s")"]
        parts.append(topic.replicationFactor.map { "replication \($0)" } ?? "default replication")
        parts += topic.configs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return parts.joined(separator: ", ")
    }

    static func explain(_ error: KafkaError, brokers: String, timeout: Double) -> String {
        guard error.code == KafkaError.timedOut else { return "error: \(error)" }
        return """
            error: no answer to CreateTopics from \(brokers) within \(timeout.formatted()) s (\(error.message)).
            Is a broker listening there? The embedded broker (tidemark dev-broker) has no admin API, \
            so this command cannot create topics on it: start it with `tidemark dev-broker --topics DIR`, \
            or let producers auto-create topics (4 partitions).
            """
    }

}
