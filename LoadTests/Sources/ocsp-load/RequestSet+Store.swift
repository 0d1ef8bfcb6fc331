import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

extension RequestSet {
    /// One request (one SHA-1 CertID) per certificate in the store, issuers interleaved so that a
    /// `limit` still covers them all. Each carries the store's status for sampled verification.
    /// - Parameters:
    ///   - path: The store directory.
    ///   - issuerPath: When given, only that issuer's certificates (a PEM or DER certificate file).
    ///   - nonce: Give each request a nonce (so the responder must sign its answer live).
    /// - Throws: ``LoadError`` when the store cannot be read or holds no certificates.
    static func fromStore(
        path: String, target: TargetURL, limit: Int?, issuerPath: String?, nonce: Bool
    ) throws -> RequestSet {
        let store: RevocationStore
        do { store = try RevocationStore.open(at: path) } catch {
            throw LoadError("cannot open the store \(path): \(error)")
        }
        let only = try issuerPath.map { file in
            do { return try IssuerID(certificate: Certificate.load(path: file)) } catch {
                throw LoadError("--issuer \(file): \(error)")
            }
        }
        var perIssuer: [[PreparedRequest]] = []
        do {
            for record in try store.allIssuers() where only == nil || record.id == only {
                let issuer = try Certificate(derEncoded: record.certificateDER)
                var entries: [(SerialNumber, CertificateRecord)] = []
                try store.forEachCertificate(issuer: record.id) { serial, certificate in
                    entries.append((serial, certificate))
                }
                perIssuer.append(
                    try entries.map { serial, certificate in
                        let certID = try CertID(issuer: issuer, serialNumber: serial, hashAlgorithm: .sha1)
                        return PreparedRequest(
                            der: try OCSPRequestBuilder.build([certID], nonce: nonce), target: target,
                            expectation: Expectation(certID: certID, status: certificate.certStatus, issuer: issuer),
                            hasNonce: nonce, label: "\(issuer.subject) serial \(serial.hex)")
                    })
            }
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError("reading the store \(path): \(error)")
        }
        if only != nil, perIssuer.isEmpty {
            throw LoadError("--issuer \(issuerPath ?? ""): that issuer is not in the store \(path)")
        }
        let requests = interleave(perIssuer, limit: limit)
        guard !requests.isEmpty else { throw LoadError("the store \(path) holds no certificates to ask about") }
        let issuers = perIssuer.filter { !$0.isEmpty }.count
        return RequestSet(
            requests: requests,
            source: "store \(path): \(requests.count) requests over \(issuers) issuer(s)\(nonce ? ", with nonces" : "")"
        )
    }

    /// Round-robin over the lists: the first of each, then the second of each, …, at most `limit`.
    static func interleave(_ lists: [[PreparedRequest]], limit: Int?) -> [PreparedRequest] {
        var out: [PreparedRequest] = []
        let cap = limit ?? Int.max
        var index = 0
        while out.count < cap {
            var any = false
            for list in lists where index < list.count && out.count < cap {
                out.append(list[index])
                any = true
            }
            if !any { break }
            index += 1
        }
        return out
    }
}
