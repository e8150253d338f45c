// `tidemark replay`: one app over a stretch of its input topic, read from Kafka, with the
// results `tidemark batch` gives over the same records.
import ArgumentParser
import Foundation
import Logging
import Tidemark

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run one app over the records its input topic holds, from a point in time to the end.",
        discussion: """
            Each partition of the app's input topic is read from the first record at or after \
            --from to its end as it was when the replay began (or to the first record at or \
            after --to), and every window closes at the end: the newest revision of every \
            result equals what `tidemark batch` gives over the same records. Results and trigger \
            events go to --output as JSON lines (too-late and malformed records to --late, as \
            {"partition":P,"offset":O,"reason":…,"error":…,"value":…}), or with --produce to the \
            app's own output and late topics. Joins no group and commits nothing. Progress goes \
            to stderr when it is a terminal.
            """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "The app file.")
    var app: String

    @Option(help: "Where to start: earliest, or the first record at or after a time: \(TimeArgument.accepted).")
    var from: String

    @Option(help: "Where to stop: before the first record at or after this time (default: the ends as the replay begins).")
    var to: String?

    @Option(help: "Where results and trigger events go, one JSON object a line.")
    var output: String?

    @Option(help: "Where too-late and malformed records go (with --output).")
    var late: String?

    @Flag(help: "Produce to the app's output and late topics instead of writing files.")
    var produce = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard from == "earliest" || TimeArgument.milliseconds(from, now: 0) != nil else {
            throw ValidationError("--from: expected earliest, \(TimeArgument.accepted)")
        }
        if let to, TimeArgument.milliseconds(to, now: 0) == nil { throw ValidationError("--to: expected \(TimeArgument.accepted)") }
        guard (output != nil) != produce else { throw ValidationError("give either --output FILE or --produce") }
        if late != nil && produce { throw ValidationError("--late goes with --output; --produce sends late records to the app's late topic") }
    }

    func run() throws {
        bootstrapLogging(level: logLevel)
        let definition = try loadingConfiguration { () throws(ConfigErrors) in try AppLoader.loadFile(app) }
        let now = wallClockMillis()
        let start: ReplayStart = from == "earliest" ? .earliest : .time(TimeArgument.milliseconds(from, now: now)!)
        let end = to.map { TimeArgument.milliseconds($0, now: now)! }
        let progress = ProgressLine(enabled: isatty(STDERR_FILENO) == 1)
        let summary: ReplaySummary
        do throws(ReplayError) {
            summary = try ReplayRun.run(
                app: definition, kafka: kafka.config(), from: start, to: end,
                destination: produce ? .topics : .files(output: output!, late: late), logger: Logger(label: "tidemark.replay"),
                now: now, onProgress: progress.show)
        } catch {
            progress.end()
            printError("tidemark replay: \(error)")
            throw ExitCode.failure
        }
        progress.end()
        let done = summary.progress
        printError(
            runSummary(
                "\(done.records) records from \(done.partitions) partitions", count: done.records, unit: "records",
                counts: summary.counts, seconds: done.seconds))
    }
}

/// One line on a terminal, rewritten in place as a replay goes on.
private final class ProgressLine {
    private let enabled: Bool
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ progress: ReplayProgress) {
        guard enabled else { return }
        var line = "\(progress.records) records, \(progress.partitionsDone)/\(progress.partitions) partitions done, "
        line += "\(Int(progress.rate)) records/s"
        if let left = progress.secondsLeft, progress.partitionsDone < progress.partitions {
            let seconds = Int(left.rounded())
            line += String(format: ", ETA %d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
        }
        // Clear to the end of the line: the previous one may have been longer.
        FileHandle.standardError.write(Data("\r\(line)\u{1B}[K".utf8))
        shown = true
    }

    func end() {
        if shown { FileHandle.standardError.write(Data("\n".utf8)) }
        shown = false
    }
}
