// Placeholder until the owner of this benchmark writes it.
import ArgumentParser

struct BenchBatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "batch")
    func run() async throws { throw ExitCode.failure }
}
