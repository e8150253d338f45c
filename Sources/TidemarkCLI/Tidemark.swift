// The `tidemark` command-line tool: one subcommand a file.
import ArgumentParser
import Foundation

@main
struct TidemarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tidemark",
        abstract: "Event-time windows, watermarks and triggers for device data on Kafka.",
        subcommands: [
            DevBrokerCommand.self,
            SimulateCommand.self,
            TopicsCommand.self,
            BatchCommand.self,
            ReplayCommand.self,
            ValidateCommand.self,
            RunCommand.self,
            DemoCommand.self,
        ]
    )

    static func main() async {
        // A peer that goes away mid-write must be a socket error, not the end of the process
        // (librdkafka's mock broker writes without MSG_NOSIGNAL).
        signal(SIGPIPE, SIG_IGN)
        await main(nil)
    }
}
