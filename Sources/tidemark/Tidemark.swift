// The `tidemark` command-line tool: one subcommand a file.
import ArgumentParser

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
            ValidateCommand.self,
            RunCommand.self,
            DemoCommand.self,
            BenchCommand.self,
        ]
    )
}
