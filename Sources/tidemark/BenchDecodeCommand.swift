// Placeholder until the owner of this benchmark writes it.
import ArgumentParser

struct BenchDecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode")
    func run() async throws { throw ExitCode.failure }
}
