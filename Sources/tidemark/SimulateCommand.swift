// Placeholder until the owner of this command writes it.
import ArgumentParser

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate")
    func run() async throws { throw ExitCode.failure }
}
