// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "tidemark",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tidemark", targets: ["tidemark"]),
        // For the fuzz targets in Fuzz/, a package of its own so plain builds never see them.
        .library(name: "Tidemark", targets: ["Tidemark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The C world stops at these shims; nothing above Kafka/Tidemark sees a raw pointer.
        .systemLibrary(name: "CLibRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(name: "CRdKafka", dependencies: ["CLibRdKafka"]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),

        .target(name: "Kafka", dependencies: ["CRdKafka"]),
        .target(name: "Streaming"),
        .target(
            name: "Tidemark",
            dependencies: [
                "Kafka", "Streaming", "CSnappy",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tidemark",
            dependencies: [
                "Tidemark", "Kafka", "Streaming",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // A test trait only, for the test targets whose tests block.
        .target(name: "TestThreads"),

        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "TestThreads"]),
        .testTarget(name: "StreamingTests", dependencies: ["Streaming"]),
        .testTarget(name: "TidemarkTests", dependencies: ["Tidemark", "Kafka", "Streaming", "TestThreads"]),
        // Depends on the executable so `swift test` builds the binary these tests run.
        .testTarget(name: "CommandLineTests", dependencies: ["tidemark", "Kafka", "TestThreads"]),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // Exclusivity is still checked at compile time; the per-access runtime checks on class
    // properties cost the record path more than anything else it does.
    settings.append(.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)))
    target.swiftSettings = settings
}
