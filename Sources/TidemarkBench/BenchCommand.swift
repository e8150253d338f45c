// `tidemark-bench`: benchmarks are commands, run in release builds
// (`swift run -c release tidemark-bench <name>`), never timings inside tests. A binary of its
// own, so that measuring tools (and the C baseline) stay out of the product.
import ArgumentParser
import Foundation

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tidemark-bench",
        abstract: "Measure throughput of the parts of Tidemark.",
        subcommands: [
            BenchConsumeCommand.self,
            BenchEngineCommand.self,
            BenchHistoryCommand.self,
            BenchDecodeCommand.self,
            BenchBatchCommand.self,
            BenchRunCommand.self,
            BenchTenancyCommand.self,
            BenchRestoreCommand.self,
            BenchCoalescingCommand.self,
            BenchPrefetchCommand.self,
            BenchSimulateCommand.self,
            BenchTopicsCommand.self,
        ]
    )

    static func main() async {
        // librdkafka's mock broker writes without MSG_NOSIGNAL.
        signal(SIGPIPE, SIG_IGN)
        await main(nil)
    }
}
