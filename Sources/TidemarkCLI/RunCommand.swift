// `tidemark run`: the service. Every app in a directory, on a Kafka cluster, until SIGTERM.
import ArgumentParser
import Logging
import Tidemark
import UnixSignals

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a directory of apps against Kafka until stopped.",
        discussion: """
            Consumes the apps' input topics in one consumer group, and produces series results, \
            trigger events and late records to the topics the apps name. Input offsets are \
            committed only after every output derived from them is acknowledged. App files \
            added, changed or removed while running take effect within seconds, without \
            restarting the other apps. SIGTERM or SIGINT drains in-flight work, commits, leaves \
            the group and exits 0, or non-zero if the broker has not acknowledged all of it \
            within --drain-timeout; an output that cannot be delivered ends the process with a \
            non-zero exit after committing what precedes it.
            """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "A directory of app files, or one app file.")
    var apps: String

    @Option(help: "The consumer group.")
    var group: String = "tidemark"

    @Option(help: "Serve Prometheus /metrics and /health on HOST:PORT.")
    var metrics: String?

    @Option(
        name: [.customLong("shards"), .customLong("workers")],
        help: "Shards: threads processing partitions in parallel (default: half the cores; --workers is the old name).")
    var shards: Int = TidemarkRuntime.defaultShards

    @Option(help: "at-least-once (outputs since the last checkpoint sent again, identical, after a crash) or exactly-once (one Kafka transaction per checkpoint).")
    var guarantee: TidemarkRuntime.Guarantee = .atLeastOnce

    @Option(help: "Seconds between checkpoints of changed state to the changelog topics.")
    var checkpointInterval: Double = 1

    @Option(help: "Seconds a shutdown may take to deliver outputs, write the last checkpoint and commit.")
    var drainTimeout: Double = 30

    @Option(
        help: """
            Seconds that trouble a restart may mend (no broker connection, nothing read while records wait, offset \
            commits failing) may last before /health says failing (503) and the process exits non-zero.
            """)
    var unhealthyAfter: Double = 120

    @Option(
        help: ArgumentHelp(
            "Memory for records fetched ahead of processing, across all partitions (e.g. 64MiB, 1GiB; default 256MiB).",
            valueName: "size"))
    var prefetchBudget: ByteSize?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
        // A day bounds both: past it they are typing mistakes, and milliseconds stay far from overflow.
        guard checkpointInterval > 0, checkpointInterval <= 86_400 else {
            throw ValidationError("--checkpoint-interval must be greater than zero and at most 86400 seconds")
        }
        guard drainTimeout >= 0, drainTimeout <= 86_400 else { throw ValidationError("--drain-timeout must be from 0 to 86400 seconds") }
        guard unhealthyAfter > 0, unhealthyAfter <= 86_400 else {
            throw ValidationError("--unhealthy-after must be greater than zero and at most 86400 seconds")
        }
        if let prefetchBudget, prefetchBudget.bytes < 1 << 20 {
            throw ValidationError("--prefetch-budget must be at least 1MiB")
        }
        // librdkafka's queued.max.messages.kbytes, which carries it, stops at 2097151 KiB.
        if let prefetchBudget, prefetchBudget.bytes / 1024 > 2_097_151 {
            throw ValidationError("--prefetch-budget must be at most 2047MiB")
        }
    }

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let runtime = try loadingConfiguration { () throws(ConfigErrors) in
            try TidemarkRuntime(
                options: .init(
                    kafka: kafka.config(), apps: apps, group: group, shards: shards, metricsAddress: metrics,
                    checkpointInterval: .milliseconds(Int64(checkpointInterval * 1000)), guarantee: guarantee,
                    prefetchBudget: prefetchBudget?.bytes, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
                    unhealthyAfter: .milliseconds(Int64(unhealthyAfter * 1000))),
                signals: [.sigterm, .sigint])
        }
        do {
            try await runtime.run()
        } catch {
            printError("tidemark run: \(error)")
            throw ExitCode.failure
        }
    }
}

extension TidemarkRuntime.Guarantee: ExpressibleByArgument {}
