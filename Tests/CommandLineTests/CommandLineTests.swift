// The `tidemark` binary tested from the outside, as users and their pipelines run it.
// One serialized parent suite: several tests run a broker, the service and a producer at
// once, and the machine running them may have two cores.
import TestThreads
import Testing

@Suite("tidemark command line", .serialized, .dedicatedThreads)
enum TidemarkCommandLine {}
