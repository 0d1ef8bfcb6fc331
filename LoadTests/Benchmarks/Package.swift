// swift-tools-version:6.1
// Microbenchmarks of the responder's hot paths (ordo-one/benchmark). Not built by CI: run with
//     swift package --package-path LoadTests/Benchmarks benchmark
// (see LoadTests/README.md).
import Foundation
import PackageDescription

// `.package(path: "../..")` is named after the checkout's directory, whatever the clone is called.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "OCSPBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "OCSPBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OCSPValues", package: repository),
                .product(name: "OCSPCore", package: repository),
                .product(name: "RevocationStore", package: repository),
                .product(name: "Responder", package: repository),
            ],
            path: "Benchmarks/OCSPBenchmarks",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
