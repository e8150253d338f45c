// `tidemark run`: the service. Every app in a directory, on a Kafka cluster, until SIGTERM.
// The command owns the signals: the first SIGTERM/SIGINT drains, a second ends the process at
// once, SIGHUP reloads the app files.
import ArgumentParser
import Logging
import Tidemark
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a directory of apps against Kafka until stopped.",
        discussion: """
            Consumes the apps' input topics in one consumer group, and produces series results, \
            trigger events and late records to the topics the apps name. Input offsets are \
            committed only after every output derived from them is acknowledged. App files \
            added, changed or removed while running take effect within seconds, without \
            restarting the other apps; SIGHUP reads the app files again at once, the same way. \
            SIGTERM or SIGINT drains in-flight work, commits, leaves the group and exits 0, or \
            non-zero if the broker has not acknowledged all of it within --drain-timeout; a \
            second SIGTERM or SIGINT during the drain ends the process at once (exit 143 or \
            130), and the next run reads again from the last committed offsets. An output that \
            cannot be delivered ends the process with a non-zero exit after committing what \
            precedes it.
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
        // Trapped before anything else, so none of them can end the process by default action
        // once the apps load (SIGHUP's default is to terminate, undrained).
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        let runtime = try loadingConfiguration { () throws(ConfigErrors) in
            try TidemarkRuntime(
                options: .init(
                    kafka: kafka.config(), apps: apps, group: group, shards: shards, metricsAddress: metrics,
                    checkpointInterval: .milliseconds(Int64(checkpointInterval * 1000)), guarantee: guarantee,
                    prefetchBudget: prefetchBudget?.bytes, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
                    unhealthyAfter: .milliseconds(Int64(unhealthyAfter * 1000))))
        }
        do {
            try await withThrowingTaskGroup { tasks in
                tasks.addTask { try await runtime.run() }
                tasks.addTask { await Self.handle(signals, runtime: runtime) }
                // The runtime ends the run (the signal loop only ends when cancelled).
                try await tasks.next()
                tasks.cancelAll()
            }
        } catch {
            printError("tidemark run: \(error)")
            throw ExitCode.failure
        }
    }

    /// SIGHUP: reload the app files. The first SIGTERM or SIGINT: drain. A second one: stop
    /// now, without waiting for the drain; what it had not finished is simply not committed.
    private static func handle(_ signals: UnixSignalsSequence, runtime: TidemarkRuntime) async {
        let logger = Logger(label: "tidemark")
        var draining = false
        for await signal in signals {
            switch signal {
            case .sighup:
                // The reloader logs it.
                runtime.reloadApps()
            default:
                guard !draining else { cutDrainShort(by: signal) }
                draining = true
                logger.info("\(signal): draining; a second SIGTERM or SIGINT stops at once")
                await runtime.shutdown()
            }
        }
    }

    /// Ends the process at once, with 128 + the signal's number as a shell reports a death by
    /// it. `_exit`, not `exit`: the drain's threads and librdkafka's are still running, and
    /// must not see the process's globals torn down under them. Nothing is committed after
    /// this point, so nothing unacknowledged is counted as done.
    private static func cutDrainShort(by signal: UnixSignal) -> Never {
        printError(
            "tidemark run: \(signal) during the drain: stopped at once, the drain cut short; outputs, checkpoints and "
                + "offsets it had not committed are not counted as done: the next run reads again from the last committed offsets")
        _exit(128 + signal.rawValue)
    }
}

extension TidemarkRuntime.Guarantee: ExpressibleByArgument {}
