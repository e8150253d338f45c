// Placeholder until the owner of this benchmark writes it.
import ArgumentParser

struct BenchEngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine")
    func run() async throws { throw ExitCode.failure }
}
