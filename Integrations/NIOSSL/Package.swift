// swift-tools-version:6.1
import PackageDescription

// RevocationCheckingTLS: the relying party's checker (RevocationChecking, in the package at the
// repository root) inside the Swift server TLS stack: a swift-certificates VerifierPolicy, and a
// swift-nio-ssl verification callback. A package of its own so that the responder, which uses the
// system's OpenSSL, does not build BoringSSL (swift-nio-ssl's) nor swift-certificates.

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ocsp-responder-niossl",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RevocationCheckingTLS", targets: ["RevocationCheckingTLS"]),
    ],
    dependencies: [
        // The repository root. Named, so that `.product(package:)` below does not depend on the
        // directory the repository was cloned into (a path dependency's identity is its last
        // path component).
        .package(name: "ocsp-responder", path: "../.."),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The checker inside TLS stacks: a swift-certificates VerifierPolicy, and a swift-nio-ssl
        // verification callback (chain building by swift-certificates, then the checker).
        .target(
            name: "RevocationCheckingTLS",
            dependencies: [
                .product(name: "RevocationChecking", package: "ocsp-responder"),
                .product(name: "OCSPCore", package: "ocsp-responder"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Chain building and the checker against the root package's ocspd and ocspctl binaries
        // (built by its `swift build --build-tests`), and a swift-nio-ssl mTLS server.
        .testTarget(
            name: "RevocationCheckingTLSTests",
            dependencies: [
                "RevocationCheckingTLS",
                .product(name: "OCSPCore", package: "ocsp-responder"),
                .product(name: "OCSPTestSupport", package: "ocsp-responder"),
                .product(name: "OCSPValues", package: "ocsp-responder"),
                .product(name: "RevocationChecking", package: "ocsp-responder"),
                .product(name: "RevocationStore", package: "ocsp-responder"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
