// Placeholder until the owner of this command writes it.
import ArgumentParser

struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dev-broker")
    func run() async throws { throw ExitCode.failure }
}
