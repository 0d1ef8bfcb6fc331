// The code of Sources/OCSPCore/Docs.docc/VerifyingAResponse.md, block for block (check_snippets.py keeps
// the two the same). Compiled, never run.
import Foundation
import OCSPCore
import OCSPValues

func loadPair(certificatePath: String, issuerPath: String) throws -> (leaf: Certificate, issuer: Certificate) {
    let leaf = try Certificate.load(path: certificatePath)
    let issuer = try Certificate.load(path: issuerPath)
    guard leaf.isIssued(by: issuer) else {
        throw OCSPError(.invalidCertificate, "\(issuer.subject) did not issue \(leaf.subject)")
    }
    return (leaf, issuer)
}

func askResponder(
    leaf: Certificate, issuer: Certificate, post: (String, [UInt8]) async throws -> [UInt8]
) async throws -> OCSPResponseVerifier.Verified? {
    guard let url = leaf.ocspURLs.first else { return nil }  // no responder to ask
    let certID = try CertID(issuer: issuer, serialNumber: leaf.serialNumber, hashAlgorithm: .sha1)
    let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
    let request = try OCSPRequestBuilder.build([certID], nonce: nonce)
    let answer = try await post(url, request)
    let verifier = OCSPResponseVerifier(skew: 300)
    return try verifier.verify(answer, for: certID, issuer: issuer, at: Date(), nonce: nonce)
}

func report(_ verified: OCSPResponseVerifier.Verified) {
    switch verified.status {
    case .good:
        print("good until \(verified.nextUpdate)")
    case .revoked(let time, let reason):
        print("revoked at \(time), reason \(reason?.name ?? "absent")")
    case .unknown:
        print("the responder does not know this certificate")
    }
    print("signed by \(verified.signer.subject) at \(verified.producedAt.map { "\($0)" } ?? "an unknown time")")
}

func statusOrNil(_ answer: [UInt8], certID: CertID, issuer: Certificate) -> CertStatus? {
    do {
        return try OCSPResponseVerifier().verify(answer, for: certID, issuer: issuer).status
    } catch let failure as OCSPResponseVerifier.Failure {
        print("not believed: \(failure.message)")
        return nil
    } catch {
        return nil
    }
}
