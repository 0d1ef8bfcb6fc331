import Foundation
import OCSPCore
import OCSPValues
import OCSPTestSupport
import Synchronization
import Testing

/// The signer re-signs pooled templates in place: every response must still carry exactly its own
/// CertID, status, times, invalidity date and nonce, whatever was signed before it with the same template.
@Suite struct ResponseTemplateTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    struct Case: Sendable {
        let certID: CertID
        let status: CertStatus
        let thisUpdate: Date
        let nextUpdate: Date?
        let invalidityDate: Date?
        let nonce: Bool
    }

    /// Shapes cycle through statuses, reasons, invalidity dates, hash algorithms, nonce and no
    /// nextUpdate, so each template is reused with different contents many times.
    func cases(_ count: Int) throws -> [Case] {
        let statuses: [(Int) -> CertStatus] = [
            { _ in .good },
            { .revoked(time: Date(timeIntervalSince1970: 1_700_000_000 + Double($0)), reason: .keyCompromise) },
            { .revoked(time: Date(timeIntervalSince1970: 1_600_000_000 + Double($0)), reason: nil) },
            { _ in .unknown },
        ]
        return try (0..<count).map { i in
            let algorithm = HashAlgorithm.allCases[i % HashAlgorithm.allCases.count]
            let serial = SerialNumber(bytes: i % 7 == 0 ? [0x80, UInt8(i & 0xFF), 1] : [UInt8(i & 0xFF) | 1, 0x42])
            let thisUpdate = Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 61)
            return Case(
                certID: try CertID(issuer: pki.root, serialNumber: serial, hashAlgorithm: algorithm),
                status: statuses[i % statuses.count](i), thisUpdate: thisUpdate,
                nextUpdate: i % 5 == 4 ? nil : thisUpdate + 3600,
                invalidityDate: i % 8 == 1 ? Date(timeIntervalSince1970: 1_650_000_000 + Double(i) * 7) : nil,
                nonce: i % 3 == 0)
        }
    }

    func check(_ one: Case, signer: OCSPResponseSigner) throws {
        let requestDER = try OCSPRequestBuilder.build([one.certID], nonce: one.nonce)
        let request = try OCSPRequest(derEncoded: requestDER)
        // The live path signs the CertID as received (its DER kept, compared with the template's);
        // the cache path one built from parts.
        let certID = one.nonce ? try #require(request.certIDs.first ?? nil) : one.certID
        #expect((certID.derEncoded != nil) == one.nonce)
        let der = try signer.sign(
            [
                SingleResponse(
                    certID: certID, status: one.status, thisUpdate: one.thisUpdate, nextUpdate: one.nextUpdate,
                    invalidityDate: one.invalidityDate)
            ],
            nonceFrom: request)
        let response = try OCSPResponse(derEncoded: der)
        try response.verify(issuer: pki.root)
        #expect(response.responses.count == 1)
        let single = try #require(response.responses.first)
        #expect(single.certID == one.certID)
        #expect(single.status == one.status)
        #expect(single.thisUpdate == one.thisUpdate)
        #expect(single.nextUpdate == one.nextUpdate)
        #expect(single.invalidityDate == one.invalidityDate)
        #expect(single.extensions.count == (one.invalidityDate == nil ? 0 : 1))
        #expect(response.echoesNonce(of: requestDER) == one.nonce)
        #expect(response.hasNonce == one.nonce)  // no nonce left behind by an earlier use
        #expect(response.certificates == [pki.responder])
        let producedAt = try #require(response.producedAt)
        #expect(abs(producedAt.timeIntervalSinceNow) < 120)
    }

    @Test func reusedTemplatesCarryOnlyTheirOwnContents() throws {
        let signer = try OCSPResponseSigner(certificate: pki.responder, key: pki.responderKey)
        for one in try cases(60) {
            try check(one, signer: signer)
        }
    }

    @Test func templatesAreSafeAcrossThreads() throws {
        let signer = try OCSPResponseSigner(certificate: pki.responder, key: pki.responderKey)
        let all = try cases(96)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for index in stride(from: worker, to: all.count, by: 4) {
                do { try check(all[index], signer: signer) } catch { failures.withLock { $0.append("\(index): \(error)") } }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func rsaIssuerSigningItsOwnResponses() throws {
        let signer = try OCSPResponseSigner(certificate: pki.rsaCA, key: pki.rsaKey)
        for i in 0..<6 {
            let certID = try CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [UInt8(i + 1)]))
            let now = Date(timeIntervalSince1970: 1_800_000_000 + Double(i))
            let status: CertStatus = i % 2 == 0 ? .good : .revoked(time: now - 60, reason: .superseded)
            let der = try signer.sign([SingleResponse(certID: certID, status: status, thisUpdate: now, nextUpdate: now + 60)])
            let response = try OCSPResponse(derEncoded: der)
            try response.verify(issuer: pki.rsaCA)
            #expect(response.responses.first?.certID == certID)
            #expect(response.responses.first?.status == status)
        }
    }

    /// Ed25519 signs the whole message, so its templates re-sign through ASN1_item_sign_ctx.
    @Test func ed25519IssuerUsesTheGeneralSigningPath() throws {
        let directory = pki.directory + "/ed25519"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", directory + "/ca.key", "-out",
            directory + "/ca.pem", "-subj", "/CN=Ed25519 Test CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let ca = try Certificate.load(path: directory + "/ca.pem")
        let signer = try OCSPResponseSigner(certificate: ca, key: PrivateKey.load(path: directory + "/ca.key"))
        for i in 0..<6 {
            let certID = try CertID(issuer: ca, serialNumber: SerialNumber(bytes: [UInt8(i + 1), 7]))
            let now = Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 5)
            let status: CertStatus = i % 2 == 0 ? .good : .revoked(time: now - 60, reason: .cessationOfOperation)
            let der = try signer.sign([SingleResponse(certID: certID, status: status, thisUpdate: now, nextUpdate: now + 60)])
            let response = try OCSPResponse(derEncoded: der)
            try response.verify(issuer: ca)
            #expect(response.responses.first?.certID == certID)
            #expect(response.responses.first?.status == status)
            #expect(response.responses.first?.thisUpdate == now)
        }
    }
}
