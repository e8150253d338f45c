// swift-tools-version: 6.1
// libFuzzer targets for the code that reads untrusted bytes: the record decoder, the app
// loader and the trigger expression parser. A package of its own, so the root package's
// plain `swift build` and `swift test` never build them; see Fuzz/README.md.
import Foundation
import PackageDescription

/// A path dependency is known by its directory's name, whatever the checkout is called.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()

let fuzzTargets = ["FuzzRecordDecoder", "FuzzAppLoader", "FuzzExpression"]

let package = Package(
    name: "tidemark-fuzz",
    dependencies: [.package(path: root.path)],
    targets: [.target(name: "FuzzDriver")]
        + fuzzTargets.map { name in
            .executableTarget(
                name: name,
                dependencies: ["FuzzDriver", .product(name: "Tidemark", package: root.lastPathComponent)],
                // libFuzzer supplies main; -sanitize=fuzzer comes from the build command (run.sh).
                swiftSettings: [.unsafeFlags(["-parse-as-library"])])
        }
)
