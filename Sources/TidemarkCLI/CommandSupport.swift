// What several commands share: how they reach Kafka, how they report errors and log.
import ArgumentParser
import Foundation
import Kafka
import Logging
import Tidemark

/// Repeatable `--property name=value`: any librdkafka client property (SASL, SSL, client.id, …).
struct KafkaProperties: ParsableArguments {
    @Option(
        name: .customLong("property"),
        help: ArgumentHelp("A librdkafka client property (SASL, SSL, client.id, …); repeatable.", valueName: "name=value"))
    var properties: [String] = []

    func validate() throws {
        for property in properties where !property.contains("=") {
            throw ValidationError("--property expects name=value, found '\(property)'")
        }
    }

    /// The properties, on top of `bootstrap.servers`.
    func config(brokers: String) -> KafkaConfig {
        var config = KafkaConfig(["bootstrap.servers": brokers])
        for property in properties {
            let parts = property.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            config[String(parts[0])] = String(parts[1])
        }
        return config
    }
}

/// `--brokers` and repeatable `--property name=value`.
struct KafkaClientOptions: ParsableArguments {
    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT…].")
    var brokers: String

    @OptionGroup var properties: KafkaProperties

    /// The bootstrap servers, then every `--property` on top.
    func config() -> KafkaConfig { properties.config(brokers: brokers) }
}

/// Writes one line to standard output at once, unbuffered, so a parent process reading
/// a pipe sees it immediately.
func printLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Writes one line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Loads configuration (app or topic files); what is wrong goes to standard error, each
/// error at its file, line and column, and the command exits 1.
func loadingConfiguration<T>(_ load: () throws(ConfigErrors) -> T) throws -> T {
    do throws(ConfigErrors) {
        return try load()
    } catch {
        printError(error.description)
        throw ExitCode.failure
    }
}

/// `--apps DIR --group G`: the apps whose changelog topics a command creates.
struct ChangelogOptions: ParsableArguments {
    @Option(help: "Also create the changelog topics of these apps (a directory or one app file).")
    var apps: String?

    @Option(help: "The consumer group the apps run in (it names their changelog topics).")
    var group: String = "tidemark"
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// How `batch` and `replay` end: what came of the input, and how fast it went
/// (`20000 lines: 16711 results, 215 trigger events, 19 too late, 0 malformed (0.25 s, 80000 lines/s)`).
func runSummary(_ input: String, count: Int, unit: String, counts: AppCounts, seconds: Double) -> String {
    "\(input): \(counts.resultsOut) results, \(counts.triggersOut) trigger events, \(counts.late) too late, "
        + "\(counts.malformed) malformed" + (counts.future > 0 ? ", \(counts.future) from the future " : " ")
        + "(\(String(format: "%.2f", seconds)) s, \(Int(Double(count) / max(seconds, 1e-9))) \(unit)/s)"
}
