// `tidemark batch`: one app over a JSON-lines file, with the results `tidemark run`
// would produce over the same records in the same order.
import ArgumentParser
import Foundation
import Tidemark

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Run one app over a file of JSON readings, one a line.",
        discussion: """
            Lines are records in arrival order; the whole file is one partition; every window \
            closes at the end of the input. Results and trigger events go to --output, one JSON \
            object a line. Too-late and malformed lines go to --late (if given) as \
            {"line":N,"reason":…,"error":…,"value":"<the line>"} ("value_base64" for a line \
            that is not UTF-8); malformed lines are also \
            reported on stderr with their line number, and do not stop the run.
            """)

    @Option(help: "The app file.")
    var app: String

    @Option(help: "The readings, one JSON object a line.")
    var input: String

    @Option(help: "Where results and trigger events go.")
    var output: String

    @Option(help: "Where too-late and malformed lines go.")
    var late: String?

    /// Malformed lines named one by one on stderr; the rest are counted.
    static let reportedLines = 20

    func run() throws {
        let definition = try loadingConfiguration { () throws(ConfigErrors) in try AppLoader.loadFile(app) }
        let started = Date()
        var malformed = 0
        let summary: BatchSummary
        do throws(BatchError) {
            summary = try BatchRun.run(app: definition, input: input, output: output, late: late) { line, reason in
                if case .tooLate = reason { return }
                malformed += 1
                if malformed <= Self.reportedLines { printError("\(input):\(line): \(reason.reason): \(reason.error ?? "")") }
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        if malformed > Self.reportedLines { printError("… and \(malformed - Self.reportedLines) more malformed lines") }
        printError(
            runSummary(
                "\(summary.lines) lines", count: summary.lines, unit: "lines", counts: summary.counts,
                seconds: Date().timeIntervalSince(started)))
    }
}
