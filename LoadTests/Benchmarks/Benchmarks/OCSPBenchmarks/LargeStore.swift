import Foundation
import OCSPCore
import OCSPValues
import RevocationStore

/// An existing (large) store to look serials up in, named by `OCSP_BENCH_STORE` (the store
/// directory) and `OCSP_BENCH_ISSUER` (the CA certificate), e.g. one filled with ten million
/// certificates by `ocspctl import`. CertIDs are drawn from all over the key space.
struct LargeStore: Sendable {
    let store: RevocationStore
    let certIDs: [CertID]

    static func fromEnvironment(sample: Int = 100_000) throws -> LargeStore? {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment["OCSP_BENCH_STORE"], let issuerPath = environment["OCSP_BENCH_ISSUER"] else {
            return nil
        }
        let store = try RevocationStore.open(at: path)
        let issuer = try Certificate.load(path: issuerPath)
        let id = IssuerID(certificate: issuer)
        var generator = SystemRandomNumberGenerator()
        var certIDs: [CertID] = []
        // Jump to random places in the key space and take the next certificate there.
        while certIDs.count < sample {
            let probe = id.bytes + (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let page = try store.certificatesPage(issuer: id, after: probe, limit: 1)
            guard let (_, serial, _) = page.items.first else { continue }
            certIDs.append(try CertID(issuer: issuer, serialNumber: serial))
        }
        return LargeStore(store: store, certIDs: certIDs)
    }
}
