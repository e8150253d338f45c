// What several commands share: how they reach Kafka and how they report errors.
import ArgumentParser
import Foundation
import Kafka
import Logging
import Tidemark

/// `--brokers` and repeatable `--property name=value` (SASL, SSL, client.id, …).
struct KafkaClientOptions: ParsableArguments {
    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT…].")
    var brokers: String

    @Option(
        name: .customLong("property"),
        help: ArgumentHelp("A librdkafka client property (SASL, SSL, client.id, …); repeatable.", valueName: "name=value"))
    var properties: [String] = []

    func validate() throws {
        for property in properties where !property.contains("=") {
            throw ValidationError("--property expects name=value, found '\(property)'")
        }
    }

    /// The client config: the bootstrap servers, then every `--property` on top.
    func config(_ defaults: [String: String] = [:]) -> KafkaConfig {
        var config = KafkaConfig(defaults)
        config["bootstrap.servers"] = brokers
        Self.apply(properties, to: &config)
        return config
    }
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

/// Epoch milliseconds of the wall clock.
func wallClockMillis() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Structured logs on standard error at `level`.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

extension KafkaClientOptions {
    /// Adds `name=value` properties (already validated) to `config`.
    static func apply(_ properties: [String], to config: inout KafkaConfig) {
        for property in properties {
            let parts = property.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            config[String(parts[0])] = String(parts[1])
        }
    }
}

/// Starts `runtime` on its own thread; the returned signal stops it.
func startOnItsOwnThread(_ runtime: TidemarkRuntime) -> (stop: ShutdownSignal, finished: DispatchSemaphore) {
    let stop = ShutdownSignal()
    let finished = DispatchSemaphore(value: 0)
    Thread {
        do { try runtime.run(until: stop) } catch { printError("runtime: \(error)") }
        finished.signal()
    }.start()
    return (stop, finished)
}
