// Placeholder until the owner of this command writes it.
import ArgumentParser

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topics")
    func run() async throws { throw ExitCode.failure }
}
