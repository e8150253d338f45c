// `tidemark validate --apps DIR`: loads app files and reports every error as
// file:line:column, or one summary line per app.
import ArgumentParser
import Foundation
import Tidemark

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check app files; print file:line:column errors, or a summary of each app.")

    @Option(help: "A directory of app files (*.yaml, *.yml), or one app file.")
    var apps: String

    @Option(help: "The consumer group the apps run in: no app may write into its internal topics.")
    var group: String = "tidemark"

    func run() async throws {
        do {
            for app in try AppLoader.load(path: apps, group: group) {
                let series = app.series.count
                let triggers = app.triggers.count
                let through = app.input.repartitions ? " through \(RepartitionTopic.name(group: group, topic: app.input.topic))" : ""
                print(
                    "\(app.name): input \(app.input.topic)\(through), \(series) series, "
                        + "\(triggers) trigger\(triggers == 1 ? "" : "s") (\(app.sourceFile))")
            }
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode.failure
        }
    }
}
