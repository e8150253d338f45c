// swift-tools-version: 6.1
import PackageDescription

// Linux only: the C shims and the runtime call Glibc and librdkafka's Linux build directly.
let package = Package(
    name: "tidemark",
    products: [
        .executable(name: "tidemark", targets: ["TidemarkCLI"]),
        .executable(name: "tidemark-bench", targets: ["TidemarkBench"]),
        // For the fuzz targets in Fuzz/, a package of its own so plain builds never see them.
        .library(name: "Tidemark", targets: ["Tidemark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // /metrics and /health on SwiftNIO itself, not Hummingbird: two GET routes do not need a
        // router, and Hummingbird would add its own packages to every clean CI build.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        // The C world stops at these targets; nothing above Kafka/Tidemark sees a raw pointer.
        .systemLibrary(name: "CLibRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(name: "CRdKafka", dependencies: ["CLibRdKafka"]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),

        // The product: a librdkafka client, the window engine, and the service binding them.
        .target(name: "Kafka", dependencies: ["CRdKafka"]),
        .target(
            name: "Streaming",
            swiftSettings: [
                // The engine's state lives in arrays of class-held structs; the runtime
                // exclusivity check on each access cost the record path 40% (bench engine:
                // 29 vs 49 M records/s tumbling). Exclusivity is still checked at compile time.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]),
        .target(
            name: "Tidemark",
            dependencies: [
                "Kafka", "Streaming", "CSnappy",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: [
                // The record path (AppProcessor: decoder, device table, encoder, all class
                // properties) paid a runtime exclusivity check per access: bench batch ran at
                // 4.5 instead of 5.8 M records/s with them.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]
        ),
        .executableTarget(
            name: "TidemarkCLI",
            dependencies: [
                "Tidemark", "Kafka", "Streaming", "EmbeddedKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // Tooling: the embedded broker (dev-broker, the demo, tests) and the benchmarks.
        .target(
            name: "EmbeddedKafka",
            dependencies: [
                "Kafka", "CRdKafka",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(name: "CBenchBaseline", dependencies: ["CLibRdKafka"]),
        .executableTarget(
            name: "TidemarkBench",
            dependencies: [
                "Tidemark", "Kafka", "Streaming", "EmbeddedKafka", "CBenchBaseline", "TidemarkTestSupport", "TidemarkSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The runtime simulation: an in-memory cluster, and the real consumer loop run over it.
        .target(name: "KafkaSimulation", dependencies: ["Kafka"]),
        .target(
            name: "TidemarkSimulation",
            dependencies: ["Tidemark", "Kafka", "KafkaSimulation", .product(name: "Logging", package: "swift-log")]),
        // Child processes and loopback HTTP, for the command-line tests and the benchmarks.
        .target(name: "TidemarkTestSupport"),
        // A test trait only, for the test targets whose tests block.
        .target(name: "TestThreads"),

        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "EmbeddedKafka", "TestThreads"]),
        .testTarget(name: "KafkaSimulationTests", dependencies: ["KafkaSimulation", "Kafka"]),
        .testTarget(name: "SimulationTests", dependencies: ["TidemarkSimulation", "KafkaSimulation", "Kafka"]),
        .testTarget(name: "StreamingTests", dependencies: ["Streaming"]),
        .testTarget(
            name: "TidemarkTests",
            dependencies: ["Tidemark", "Kafka", "EmbeddedKafka", "Streaming", "TestThreads", "TidemarkTestSupport"]),
        // Depends on the executable so `swift test` builds the binary these tests run.
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["TidemarkCLI", "Tidemark", "Kafka", "EmbeddedKafka", "TestThreads", "TidemarkTestSupport"]),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
