// Placeholder until the owner of this command writes it.
import ArgumentParser

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate")
    func run() async throws { throw ExitCode.failure }
}
