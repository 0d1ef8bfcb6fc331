import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Testing

@Suite struct ResponseVerifierTests {
    let pki: TestPKI
    let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    let verifier = OCSPResponseVerifier()

    init() throws { pki = try TestPKI() }

    func certID(_ serial: UInt8, issuer: Certificate? = nil, _ hash: HashAlgorithm = .sha1) throws -> CertID {
        try CertID(issuer: issuer ?? pki.root, serialNumber: SerialNumber(bytes: [serial]), hashAlgorithm: hash)
    }

    /// A response about `id`, signed by `certificate`/`key` (the root's delegated responder by default).
    func response(
        _ id: CertID, status: CertStatus = .good, thisUpdate: Date? = nil, nextUpdate: Date?? = nil,
        signer: (Certificate, PrivateKey)? = nil, nonceFrom request: [UInt8]? = nil
    ) throws -> [UInt8] {
        let (certificate, key) = signer ?? (pki.responder, pki.responderKey)
        let thisUpdate = thisUpdate ?? now
        let single = SingleResponse(
            certID: id, status: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate ?? thisUpdate + 3600)
        return try OCSPResponseSigner(certificate: certificate, key: key)
            .sign([single], nonceFrom: try request.map { try OCSPRequest(derEncoded: $0) })
    }

    func failure(_ body: () throws -> Void) -> OCSPResponseVerifier.Failure.Code? {
        do {
            try body()
            return nil
        } catch let failure as OCSPResponseVerifier.Failure {
            return failure.code
        } catch {
            Issue.record("not a verification failure: \(error)")
            return nil
        }
    }

    @Test func aDelegatedResponderAndACASigningItselfAreBelieved() throws {
        let id = try certID(1)
        let revokedAt = now - 86400
        let verified = try verifier.verify(
            try response(id, status: .revoked(time: revokedAt, reason: .keyCompromise)), for: id, issuer: pki.root, at: now)
        #expect(verified.status == .revoked(time: revokedAt, reason: .keyCompromise))
        #expect(verified.signer == pki.responder)
        #expect(verified.thisUpdate == now && verified.nextUpdate == now + 3600)

        let rsaID = try certID(2, issuer: pki.rsaCA)
        let own = try response(rsaID, signer: (pki.rsaCA, pki.rsaKey))
        let byCA = try verifier.verify(own, for: rsaID, issuer: pki.rsaCA, at: now)
        #expect(byCA.signer == pki.rsaCA && byCA.status == .good)
    }

    @Test func theCertIDIsFoundUnderAnyHashAlgorithm() throws {
        let der = try response(try certID(3, .sha256))
        for asked in HashAlgorithm.allCases {
            let verified = try verifier.verify(der, for: try certID(3, asked), issuer: pki.root, at: now)
            #expect(verified.certID.hashAlgorithm == .sha256)
        }
        #expect(failure { _ = try verifier.verify(der, for: try certID(4), issuer: pki.root, at: now) } == .certIDNotFound)
        // The same serial of another issuer is another certificate.
        let other = try certID(3, issuer: pki.rsaCA)
        #expect(failure { _ = try verifier.verify(der, for: other, issuer: pki.root, at: now) } != nil)
    }

    @Test func failuresCompareOnTheirCodeAndDescribeThemselvesByTheirMessage() throws {
        let der = try response(try certID(3))
        let unanswered = try #require(#expect(throws: OCSPResponseVerifier.Failure.self) {
            _ = try verifier.verify(der, for: try certID(4), issuer: pki.root, at: now)
        })
        let foreign = try #require(#expect(throws: OCSPResponseVerifier.Failure.self) {
            _ = try verifier.verify(der, for: try certID(3, issuer: pki.rsaCA), issuer: pki.root, at: now)
        })
        let stale = try #require(#expect(throws: OCSPResponseVerifier.Failure.self) {
            _ = try verifier.verify(der, for: try certID(3), issuer: pki.root, at: now + 7200)
        })
        #expect(unanswered.code == .certIDNotFound && foreign.code == .certIDNotFound && stale.code == .expired)
        #expect(unanswered == foreign && unanswered != stale && Set([unanswered, foreign, stale]).count == 2)
        #expect("\(unanswered)" == unanswered.message && unanswered.message.hasPrefix("no SingleResponse for serial "))
        #expect("\(foreign)".hasPrefix("the CertID asked about does not name a certificate of "))
        // A switch over the codes has a default: they may grow.
        let kind =
            switch stale.code {
            case .expired, .missingNextUpdate: "stale"
            default: "other"
            }
        #expect(kind == "stale")
        let codes: [OCSPResponseVerifier.Failure.Code] = [
            .malformed, .notSuccessful, .badSignature, .unauthorizedSigner, .certIDNotFound, .notYetValid, .expired,
            .missingNextUpdate, .nonceMismatch,
        ]
        #expect(
            codes.map(\.description) == [
                "malformed", "notSuccessful", "badSignature", "unauthorizedSigner", "certIDNotFound", "notYetValid",
                "expired", "missingNextUpdate", "nonceMismatch",
            ])
        #expect(Set(codes).count == codes.count)
    }

    @Test func aWrongSignerIsRefused() throws {
        let id = try certID(5)
        // Another CA's key, with its own certificate: not the issuer, not issued by it.
        let foreign = try response(id, signer: (pki.rsaCA, pki.rsaKey))
        #expect(failure { _ = try verifier.verify(foreign, for: id, issuer: pki.root, at: now) } == .unauthorizedSigner)
        // A certificate the issuer did issue, but without extendedKeyUsage OCSPSigning.
        let leafKey = try PrivateKey.generateEC()
        let leaf = try CertificateBuilder.issue(
            CertificateTemplate(
                subject: [("CN", "not a responder")], validity: 86400,
                extensions: [("basicConstraints", "critical,CA:FALSE"), ("authorityKeyIdentifier", "keyid:always")]),
            subjectKey: leafKey, issuer: pki.root, issuerKey: pki.rootKey)
        let unauthorised = try response(id, signer: (leaf, leafKey))
        #expect(failure { _ = try verifier.verify(unauthorised, for: id, issuer: pki.root, at: now) } == .unauthorizedSigner)
        // The right certificate, a signature that does not verify (its last byte changed).
        let ownSigned = try OCSPResponseSigner(certificate: pki.root, key: pki.rootKey, includesCertificate: false)
            .sign([SingleResponse(certID: id, status: .good, thisUpdate: now, nextUpdate: now + 60)])
        var tampered = ownSigned
        tampered[tampered.count - 1] ^= 0x01
        #expect(failure { _ = try verifier.verify(tampered, for: id, issuer: pki.root, at: now) } == .badSignature)
        #expect(try verifier.verify(ownSigned, for: id, issuer: pki.root, at: now).signer == pki.root)
    }

    @Test func timesAreChecked() throws {
        let id = try certID(6)
        let der = try response(id)
        #expect(failure { _ = try verifier.verify(der, for: id, issuer: pki.root, at: now + 3601) } == .expired)
        // thisUpdate ahead of the clock: within the skew (5 min) believed, beyond it not.
        #expect(try verifier.verify(der, for: id, issuer: pki.root, at: now - 200).status == .good)
        #expect(failure { _ = try verifier.verify(der, for: id, issuer: pki.root, at: now - 400) } == .notYetValid)
        let strict = OCSPResponseVerifier(skew: 0)
        #expect(failure { _ = try strict.verify(der, for: id, issuer: pki.root, at: now - 1) } == .notYetValid)
        let open = try response(id, nextUpdate: .some(nil))
        #expect(failure { _ = try verifier.verify(open, for: id, issuer: pki.root, at: now) } == .missingNextUpdate)
    }

    @Test func theNonceMustBeEchoed() throws {
        let id = try certID(7)
        let nonce = Array("sixteen byte nce".utf8)
        let request = try OCSPRequestBuilder.build([id], nonce: nonce)
        let echoed = try response(id, nonceFrom: request)
        #expect(try verifier.verify(echoed, for: id, issuer: pki.root, at: now, nonce: nonce).status == .good)
        #expect(failure { _ = try verifier.verify(echoed, for: id, issuer: pki.root, at: now, nonce: Array("another nonce...".utf8)) }
            == .nonceMismatch)
        let without = try response(id)
        #expect(failure { _ = try verifier.verify(without, for: id, issuer: pki.root, at: now, nonce: nonce) } == .nonceMismatch)
        #expect(try verifier.verify(without, for: id, issuer: pki.root, at: now).status == .good, "no nonce sent, none needed")
    }

    @Test func errorsAndGarbageAreNotBelieved() throws {
        let id = try certID(8)
        #expect(failure { _ = try verifier.verify([0x30, 0x03, 0x0A, 0x01, 0x03], for: id, issuer: pki.root, at: now) } == .notSuccessful)
        #expect(failure { _ = try verifier.verify([0x30, 0x00], for: id, issuer: pki.root, at: now) } == .malformed)
    }

    /// A response made by another implementation: `openssl ocsp` as a responder, from an index.
    @Test func aResponseFromOpenSSLIsBelieved() throws {
        let directory = pki.directory + "/openssl-responder"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let id = try certID(0x42)
        try pki.root.pemEncoded.write(toFile: directory + "/root.pem", atomically: true, encoding: .utf8)
        try pki.responder.pemEncoded.write(toFile: directory + "/responder.pem", atomically: true, encoding: .utf8)
        try Data(pki.responderKey.pemEncoded).write(to: URL(fileURLWithPath: directory + "/responder.key"))
        try "R\t301231235959Z\t260102030405Z,keyCompromise\t42\tunknown\t/CN=x\n"
            .write(toFile: directory + "/index.txt", atomically: true, encoding: .utf8)
        let nonce = Array("openssl nonce 16".utf8)
        try Data(try OCSPRequestBuilder.build([id], nonce: nonce)).write(to: URL(fileURLWithPath: directory + "/request.der"))
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "ocsp", "-index", directory + "/index.txt", "-CA", directory + "/root.pem", "-rsigner",
            directory + "/responder.pem", "-rkey", directory + "/responder.key", "-reqin", directory + "/request.der",
            "-respout", directory + "/response.der", "-ndays", "1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0)
        let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/response.der")))
        let verified = try verifier.verify(der, for: id, issuer: pki.root, at: Date(), nonce: nonce)
        #expect(verified.status == .revoked(time: Date(timeIntervalSince1970: 1_767_323_045), reason: .keyCompromise))
        #expect(verified.signer == pki.responder)
        #expect(failure { _ = try verifier.verify(der, for: id, issuer: pki.rsaCA, at: Date(), nonce: nonce) } != nil)
    }

    /// Responses made by python `cryptography`'s OCSPResponseBuilder: one by the real delegated
    /// responder, and one by an impostor: a responder certificate (EKU OCSPSigning) issued by a
    /// fake CA that has the real root's name but not its key.
    @Test func responsesFromPythonCryptographyAreJudged() throws {
        let directory = pki.directory + "/python-builder"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try pki.root.pemEncoded.write(toFile: directory + "/root.pem", atomically: true, encoding: .utf8)
        try pki.responder.pemEncoded.write(toFile: directory + "/responder.pem", atomically: true, encoding: .utf8)
        try Data(pki.responderKey.pemEncoded).write(to: URL(fileURLWithPath: directory + "/responder.key"))
        let script = """
            import datetime, sys
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509 import ocsp
            from cryptography.x509.oid import ExtendedKeyUsageOID
            d = sys.argv[1]
            root = x509.load_pem_x509_certificate(open(d + "/root.pem", "rb").read())
            responder = x509.load_pem_x509_certificate(open(d + "/responder.pem", "rb").read())
            key = serialization.load_pem_private_key(open(d + "/responder.key", "rb").read(), None)
            now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            fake_ca_key, impostor_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
            impostor = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=Impostor"))
                .issuer_name(root.subject).public_key(impostor_key.public_key()).serial_number(7)
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
                .sign(fake_ca_key, hashes.SHA256()))
            for name, signer, signing_key in (("right", responder, key), ("impostor", impostor, impostor_key)):
                builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                    issuer_name_hash=bytes.fromhex(sys.argv[2]), issuer_key_hash=bytes.fromhex(sys.argv[3]),
                    serial_number=0x43, algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.GOOD,
                    this_update=now, next_update=now + datetime.timedelta(hours=1), revocation_time=None,
                    revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, signer).certificates([signer])
                open(d + "/" + name + ".der", "wb").write(builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
            """
        let hashes = try pki.root.issuerHashes(.sha256)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", script, directory, hashes.nameHash.hexString, hashes.keyHash.hexString]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "python3 with cryptography is needed (make test installs it)")
        let id = try certID(0x43)
        let right = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/right.der")))
        let verified = try verifier.verify(right, for: id, issuer: pki.root)
        #expect(verified.status == .good && verified.signer == pki.responder && verified.certID.hashAlgorithm == .sha256)
        let impostor = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/impostor.der")))
        #expect(failure { _ = try verifier.verify(impostor, for: id, issuer: pki.root) } == .unauthorizedSigner)
    }
}
