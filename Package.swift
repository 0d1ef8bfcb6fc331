// swift-tools-version:6.1
import Foundation
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
        .executable(name: "ocsp-load", targets: ["ocsp-load"]),
        .executable(name: "ocsp-stapler", targets: ["ocsp-stapler"]),
        .library(name: "OCSPValues", targets: ["OCSPValues"]),
        .library(name: "OCSPCore", targets: ["OCSPCore"]),
        .library(name: "RevocationStore", targets: ["RevocationStore"]),
        .library(name: "Responder", targets: ["Responder"]),
        .library(name: "OCSPStapling", targets: ["OCSPStapling"]),
        .library(name: "RevocationChecking", targets: ["RevocationChecking"]),
        .library(name: "Fetching", targets: ["Fetching"]),
        // The throwaway PKI and store the tests use, for the nested package Integrations/NIOSSL.
        .library(name: "OCSPTestSupport", targets: ["OCSPTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // `make docs` only (swift package generate-documentation); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C shims: only what Swift cannot call (macros, variadics).
        .target(
            name: "COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        // libcurl (libcurl4-openssl-dev): forwarders for its variadic calls, and its global
        // initialisation at load time (see initialize.c).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        // libpq (libpq-dev): PostgreSQL's own client, for Replication only.
        .systemLibrary(name: "CPostgreSQL", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // Every HTTP fetch (stapler, checker, purge hook): one protocol, one libcurl implementation.
        .target(name: "Fetching", dependencies: ["CCurl", "Locking"], swiftSettings: swiftSettings),

        // Plain values every module shares (serial, CertID, statuses, hash algorithms), no C.
        .target(name: "OCSPValues", swiftSettings: swiftSettings),
        // The one configuration language: the duration and size grammars, and settings declared once
        // and read through swift-configuration (flags, environment, YAML) by ocspd, the stapler and
        // the checker's policy.
        .target(
            name: "Settings",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // A lock ThreadSanitizer can see (see LockedValue.swift).
        .target(name: "Locking", swiftSettings: swiftSettings),
        // JSON log lines and a process-wide log level (ocspd and ocsp-stapler log alike).
        .target(
            name: "LogFormats", dependencies: ["Locking", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),

        // Safe Swift over the C modules. The store knows nothing of OCSP or certificates; of
        // OpenSSL it uses only SHA-256, for the audit log's hash chain.
        .target(name: "OCSPCore", dependencies: ["COpenSSL", "Locking", "OCSPValues"], swiftSettings: swiftSettings),
        .target(name: "RevocationStore", dependencies: ["CLMDB", "COpenSSL", "OCSPValues"], swiftSettings: swiftSettings),

        // CRL generation (full, delta, sharded) from the store.
        .target(
            name: "CRLService",
            dependencies: [
                "Locking", "OCSPValues", "OCSPCore", "RevocationStore", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),

        // The pipeline and the HTTP front.
        .target(
            name: "Responder",
            dependencies: [
                "Locking", "OCSPValues", "OCSPCore", "RevocationStore", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A numeric socket address, and a small libmicrohttpd listener for a sidecar's /metrics and
        // /healthz (ocsp-stapler).
        .target(name: "Listening", dependencies: ["CMicroHTTPD"], swiftSettings: swiftSettings),
        .target(
            name: "HTTPServer",
            dependencies: [
                "CMicroHTTPD", "Listening", "Locking", "OCSPValues", "OCSPCore", "Responder", "RevocationStore", "CRLService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // What an operator watches: /metrics (swift-prometheus), /readyz, JSON logs.
        .target(
            name: "Operations",
            dependencies: [
                "HTTPServer", "CRLService", "Locking", "LogFormats", "Responder", "RevocationStore", "OCSPValues", "OCSPCore",
                "Replication", "Fetching", "Settings", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Beyond one host: PostgreSQL as the system of record (ocspctl --database) and the
        // follower that keeps an ocspd's store a replica of it (ocspd --follow).
        .target(
            name: "Replication",
            dependencies: [
                "CPostgreSQL", "Locking", "OCSPValues", "RevocationStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),

        // Operator tasks behind ocspctl (kept out of the executable so tests can call them).
        .target(
            name: "OCSPAdmin", dependencies: ["OCSPValues", "OCSPCore", "RevocationStore"], swiftSettings: swiftSettings),

        // Thin executables.
        .executableTarget(
            name: "ocspd",
            dependencies: [
                "HTTPServer", "Responder", "RevocationStore", "CRLService", "Operations", "LogFormats", "Replication", "Settings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ocspctl",
            dependencies: [
                "OCSPValues", "OCSPCore", "RevocationStore", "Responder", "OCSPAdmin", "CRLService", "RevocationChecking",
                "Replication", "Settings", "LogFormats", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The load tester. It lives under LoadTests/ but builds with the main package, so CI (and a
        // new user) builds SwiftNIO once, not twice.
        // Stapling: fetch, verify and keep staples for TLS servers (a library and its sidecar).
        .target(
            name: "OCSPStapling",
            dependencies: [
                "Locking", "OCSPValues", "OCSPCore", "Fetching", "Settings", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The relying party's side: a peer certificate checked as a policy says (staple, OCSP,
        // CRL; soft or hard fail; cache; one time budget).
        .target(
            name: "RevocationChecking",
            dependencies: [
                "Locking", "OCSPValues", "OCSPCore", "OCSPStapling", "Fetching", "Settings",
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // The stapler as a daemon: its service-lifecycle Service, its metrics (swift-prometheus) and
        // its /metrics and /healthz listener. Internal (no product): the public OCSPStapling library
        // stays free of Prometheus, service-lifecycle and libmicrohttpd.
        .target(
            name: "StaplerDaemon",
            dependencies: [
                "OCSPStapling", "Locking", "Listening", .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ocsp-stapler",
            dependencies: [
                "OCSPStapling", "StaplerDaemon", "OCSPCore", "LogFormats", "Listening", "Settings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ocsp-load",
            dependencies: [
                "Locking", "OCSPValues", "OCSPCore", "RevocationStore", "Settings",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "LoadTests/Sources/ocsp-load",
            swiftSettings: swiftSettings
        ),

        // A throwaway PKI and store for the unit tests.
        .target(
            name: "OCSPTestSupport", dependencies: ["OCSPValues", "OCSPCore", "RevocationStore", "OCSPAdmin", "Fetching", "Locking"],
            path: "Tests/OCSPTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "OCSPCoreTests", dependencies: ["OCSPValues", "OCSPCore", "OCSPTestSupport", "Locking"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SettingsTests",
            dependencies: ["Settings", "Operations", "OCSPStapling", "RevocationChecking"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FetchingTests", dependencies: ["Fetching"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ListeningTests", dependencies: ["Listening", "Fetching"], swiftSettings: swiftSettings),
        .testTarget(
            name: "OCSPStaplingTests",
            dependencies: [
                "OCSPStapling", "Fetching", "OCSPValues", "OCSPCore", "OCSPTestSupport",
                .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "RevocationCheckingTests",
            dependencies: [
                "RevocationChecking", "Fetching", "HTTPServer", "Responder", "RevocationStore", "OCSPValues",
                "OCSPCore", "OCSPTestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "RevocationStoreTests",
            dependencies: ["RevocationStore", "OCSPValues", "OCSPCore", "OCSPAdmin", "OCSPTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ResponderTests",
            dependencies: ["Responder", "OCSPValues", "OCSPCore", "RevocationStore", "OCSPTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CRLServiceTests",
            dependencies: [
                "CRLService", "OCSPValues", "OCSPCore", "RevocationStore", "OCSPAdmin", "OCSPTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ReplicationTests",
            dependencies: ["Replication", "RevocationStore", "OCSPValues", "OCSPCore", "OCSPTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "OCSPAdminTests", dependencies: ["OCSPAdmin", "OCSPValues", "OCSPCore", "RevocationStore"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "Operations", "LogFormats", "HTTPServer", "Responder", "RevocationStore", "OCSPTestSupport", "Settings",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HTTPServerTests",
            dependencies: ["HTTPServer", "Responder", "OCSPValues", "OCSPCore", "RevocationStore", "OCSPTestSupport", "CMicroHTTPD",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets (Fuzz/), only when Fuzz/run.sh builds them (OCSP_FUZZ=1, with
// -sanitize=fuzzer,address and -parse-as-library): they have no main of their own.
if ProcessInfo.processInfo.environment["OCSP_FUZZ"] != nil {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzOCSPRequest", ["OCSPCore", "OCSPValues"]),
        ("FuzzGETPath", ["Responder"]),
        ("FuzzIndexTxt", ["OCSPAdmin"]),
        ("FuzzConfig", ["Operations"]),
        ("FuzzAuditRecord", ["RevocationStore"]),
        ("FuzzHTTPHandler", [
            "HTTPServer", "OCSPCore", "Responder", "RevocationStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/Sources/FuzzDriver", swiftSettings: swiftSettings))
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: name, dependencies: dependencies + ["FuzzDriver"], path: "Fuzz/Sources/" + name,
                swiftSettings: swiftSettings))
    }
}
