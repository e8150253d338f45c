// Placeholder until the owner of this benchmark writes it.
import ArgumentParser

struct BenchConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consume")
    func run() async throws { throw ExitCode.failure }
}
