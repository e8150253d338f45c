// Placeholder until the owner of this command writes it.
import ArgumentParser

struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "batch")
    func run() async throws { throw ExitCode.failure }
}
