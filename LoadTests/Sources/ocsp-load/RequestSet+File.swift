import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

extension RequestSet {
    /// Reads a request file: one DER `OCSPRequest` per line, base64 (standard alphabet, padding
    /// optional); blank lines and lines starting with `#` are skipped.
    ///
    /// With a `store`, each request's first CertID is looked up so sampled responses can be checked
    /// against the store like store-made requests; requests about unknown issuers are not checked.
    /// Without one, sampled responses are only checked to decode and be `successful`.
    /// - Throws: ``LoadError`` on an unreadable file, a line that is not base64, or an empty file.
    static func fromFile(
        path: String, target: TargetURL, limit: Int?, storePath: String?
    ) throws -> RequestSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError("--requests \(path): cannot read the file")
        }
        let store = try storePath.map { directory in
            do { return try RevocationStore.open(at: directory) } catch {
                throw LoadError("cannot open the store \(directory): \(error)")
            }
        }
        var issuers: [IssuerID: Certificate] = [:]
        var requests: [PreparedRequest] = []
        var checked = 0
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (number, rawLine) in lines.enumerated() {
            if let limit, requests.count >= limit { break }
            let line = String(rawLine).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let der = Base64.decode(Substring(line)) else {
                throw LoadError("--requests \(path) line \(number + 1): not base64")
            }
            let parsed = try? OCSPRequest(derEncoded: der)
            var expectation: Expectation? = nil
            if let store, let certID = parsed?.certIDs.first ?? nil {
                expectation = try expect(certID, in: store, issuers: &issuers)
                if expectation != nil { checked += 1 }
            }
            requests.append(
                PreparedRequest(
                    der: der, target: target, expectation: expectation, hasNonce: parsed?.hasNonce ?? false,
                    label: "\(path) line \(number + 1)"))
        }
        guard !requests.isEmpty else { throw LoadError("--requests \(path): no requests in the file") }
        let note = store == nil ? "" : ", \(checked) checkable against the store"
        return RequestSet(requests: requests, source: "file \(path): \(requests.count) requests\(note)")
    }

    private static func expect(
        _ certID: CertID, in store: RevocationStore, issuers: inout [IssuerID: Certificate]
    ) throws -> Expectation? {
        do {
            guard case .known(let id, let record) = try store.lookup(certID) else { return nil }
            if issuers[id] == nil { issuers[id] = try store.issuer(id: id).map { try Certificate(derEncoded: $0.certificateDER) } }
            guard let issuer = issuers[id] else { return nil }
            return Expectation(certID: certID, status: record?.certStatus ?? .unknown, issuer: issuer)
        } catch {
            throw LoadError("looking up \(certID.serialNumber) in the store: \(error)")
        }
    }

    /// Writes the requests in the `--requests` format, one base64 line each.
    func write(to path: String) throws {
        var text = "# OCSP requests, one base64 DER OCSPRequest per line (ocsp-load --requests); \(source)\n"
        for request in requests { text += Base64.encode(request.der) + "\n" }
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw LoadError("cannot write \(path): \(error)")
        }
    }
}
