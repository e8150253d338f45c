// Placeholder until the owner of this command writes it.
import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench")
    func run() async throws { throw ExitCode.failure }
}
