import Foundation
import OCSPTestSupport
import Testing

/// The root package's binaries, made by its `swift build --build-tests` (`make test` runs it
/// before this package's tests): this file is
/// `<repository>/Integrations/NIOSSL/Tests/RevocationCheckingTLSTests/ResponderProcess.swift`.
enum RootBinaries {
    static func path(_ name: String) throws -> String {
        var repository = URL(fileURLWithPath: #filePath)
        for _ in 0..<5 { repository.deleteLastPathComponent() }
        let binary = repository.appendingPathComponent(".build/debug/\(name)").path
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "no \(name) at \(binary): run `swift build --build-tests` (or `make test`) at the repository root first")
        return binary
    }
}

/// ocspd, the real binary, serving a throwaway PKI's store on 127.0.0.1: the checker's tests ask
/// it, and `ocspctl revoke` changes the store under it.
final class ResponderProcess: @unchecked Sendable {
    // @unchecked: the fields are set once in init; `process` is only terminated in deinit.
    let pki: TestPKI
    /// `http://127.0.0.1:<port>/`.
    let url: String
    private let process: Process

    init() throws {
        pki = try TestPKI()
        process = Process()
        process.executableURL = URL(fileURLWithPath: try RootBinaries.path("ocspd"))
        process.arguments = ["--store", pki.directory + "/store", "--listen", "127.0.0.1:0", "--threads", "1", "--no-crl"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Its first line names the port: "ocspd listening on http://127.0.0.1:PORT/".
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n"), line.count < 4096 {
            guard let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty else { break }
            line += byte
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let start = text.range(of: "http://") else {
            process.terminate()
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "ocspd did not start: \(text)"])
        }
        url = String(text[start.lowerBound...])
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }
}
