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

extension RequestSet {
    /// Writes the cached (SHA-1) response of each store-made request to `directory`, named by the
    /// request's url-safe base64, as a static web server would serve it.
    /// - Returns: how many were written.
    /// - Throws: ``LoadError`` when a request has no cached response (presign the store first).
    func writeResponses(to directory: String, storePath: String) throws -> Int {
        let store: RevocationStore
        do { store = try RevocationStore.open(at: storePath) } catch {
            throw LoadError("cannot open the store \(storePath): \(error)")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LoadError("--write-responses \(directory): \(error.localizedDescription)")
        }
        var written = 0
        for request in requests {
            guard let expectation = request.expectation else { continue }
            let key = ResponseKey(
                issuer: IssuerID(certificate: expectation.issuer), algorithm: expectation.certID.hashAlgorithm,
                serial: expectation.certID.serialNumber)
            guard let response = try? store.cachedResponse(key) else {
                throw LoadError("\(request.label): no cached response in the store; sign them first (ocspctl presign)")
            }
            // Plain open/write/close: FileManager writes through a temporary file and a rename,
            // many times slower for a million small files.
            let path = directory + "/" + Base64.urlSafe(request.der)
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw LoadError("cannot create \(path): \(String(cString: strerror(errno)))") }
            let count = response.der.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
            guard count == response.der.count else { throw LoadError("cannot write \(path)") }
            written += 1
        }
        return written
    }
}
