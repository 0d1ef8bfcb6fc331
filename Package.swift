// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ocsp-responder",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ocspd", targets: ["ocspd"]),
        .executable(name: "ocspctl", targets: ["ocspctl"]),
        .library(name: "OCSPCore", targets: ["OCSPCore"]),
        .library(name: "RevocationStore", targets: ["RevocationStore"]),
        .library(name: "Responder", targets: ["Responder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C shims: only what Swift cannot call (macros, variadics).
        .target(
            name: "COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),

        // Safe Swift over the C modules.
        .target(name: "OCSPCore", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "RevocationStore", dependencies: ["CLMDB", "OCSPCore"], swiftSettings: swiftSettings),

        // The pipeline and the HTTP front.
        .target(
            name: "Responder",
            dependencies: ["OCSPCore", "RevocationStore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HTTPServer",
            dependencies: ["CMicroHTTPD", "Responder", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // Operator tasks behind ocspctl (kept out of the executable so tests can call them).
        .target(name: "OCSPAdmin", dependencies: ["OCSPCore", "RevocationStore"], swiftSettings: swiftSettings),

        // Thin executables.
        .executableTarget(
            name: "ocspd",
            dependencies: [
                "HTTPServer", "Responder", "RevocationStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ocspctl",
            dependencies: [
                "OCSPCore", "RevocationStore", "Responder", "OCSPAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // A throwaway PKI and store for the unit tests.
        .target(
            name: "OCSPTestSupport", dependencies: ["OCSPCore", "RevocationStore"], path: "Tests/OCSPTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(name: "OCSPCoreTests", dependencies: ["OCSPCore", "OCSPTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RevocationStoreTests", dependencies: ["RevocationStore", "OCSPCore", "OCSPTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ResponderTests", dependencies: ["Responder", "OCSPCore", "RevocationStore", "OCSPTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "OCSPAdminTests", dependencies: ["OCSPAdmin", "OCSPCore", "RevocationStore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HTTPServerTests",
            dependencies: ["HTTPServer", "Responder", "OCSPCore", "RevocationStore", "OCSPTestSupport",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
