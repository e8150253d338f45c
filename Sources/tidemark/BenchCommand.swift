// `tidemark bench …`: benchmarks are commands, run in release builds
// (`swift run -c release tidemark bench <name>`), never timings inside tests.
import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput of the parts of Tidemark.",
        subcommands: [
            BenchConsumeCommand.self,
            BenchEngineCommand.self,
            BenchDecodeCommand.self,
            BenchBatchCommand.self,
            BenchRunCommand.self,
            BenchTenancyCommand.self,
        ]
    )
}
