// swift-tools-version:6.1
// A consumer of the ocsp-responder package, as another Swift package would depend on it (by path
// here; by URL in a real one). `make test` at the root builds it.
import PackageDescription

let package = Package(
    name: "RevocationClient",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ocsp-responder", path: "../..")
    ],
    targets: [
        // What a user would write: fetch and verify a staple, then check the certificate under a
        // policy file.
        .executableTarget(
            name: "revocation-client",
            dependencies: [
                .product(name: "OCSPStapling", package: "ocsp-responder"),
                .product(name: "RevocationChecking", package: "ocsp-responder"),
                // Certificate (loading the PEM files) lives in OCSPCore.
                .product(name: "OCSPCore", package: "ocsp-responder"),
            ]),
        // The code of the four DocC articles (Sources/<Module>/Docs.docc/), verbatim, so that
        // building this package proves every snippet compiles. `make docs` checks that each
        // snippet is still here word for word.
        .target(
            name: "DocSnippets",
            dependencies: [
                .product(name: "OCSPValues", package: "ocsp-responder"),
                .product(name: "OCSPCore", package: "ocsp-responder"),
                .product(name: "OCSPStapling", package: "ocsp-responder"),
                .product(name: "RevocationChecking", package: "ocsp-responder"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
