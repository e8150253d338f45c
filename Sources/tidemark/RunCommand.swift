// `tidemark run`: the service. Every app in a directory, on a Kafka cluster, until SIGTERM.
import ArgumentParser
import Logging
import Tidemark

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a directory of apps against Kafka until stopped.",
        discussion: """
            Consumes the apps' input topics in one consumer group, and produces series results, \
            trigger events and late records to the topics the apps name. Input offsets are \
            committed only after every output derived from them is acknowledged. App files \
            added, changed or removed while running take effect within seconds, without \
            restarting the other apps. SIGTERM or SIGINT drains in-flight work, commits, leaves \
            the group and exits 0.
            """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "A directory of app files, or one app file.")
    var apps: String

    @Option(help: "The consumer group.")
    var group: String = "tidemark"

    @Option(help: "Serve Prometheus /metrics and /health on HOST:PORT.")
    var metrics: String?

    @Option(help: "Threads processing partitions in parallel (default: half the cores).")
    var workers: Int = TidemarkRuntime.defaultWorkers

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        let shutdown = ShutdownSignal.installed()
        bootstrapLogging(level: logLevel)
        let runtime: TidemarkRuntime
        do throws(ConfigErrors) {
            runtime = try TidemarkRuntime(
                options: .init(kafka: kafka.config(), apps: apps, group: group, workers: workers, metricsAddress: metrics))
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        try runtime.run(until: shutdown)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
