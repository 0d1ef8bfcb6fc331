import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

struct StatsCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show what the store holds: per issuer, certificates by status, cached responses, CRLs, signer.",
        discussion: """
            Read in one snapshot, so the numbers add up: one walk of every certificate and cached response \
            (under a second for a million of each). --json prints one object: the store's figures at the top \
            level and one object per issuer under "issuers". Times are RFC 3339, UTC.
            """)

    @OptionGroup var options: StoreOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let store = try options.open()
        let now = Date()
        let statistics = try store.statistics(now: now)
        let signers = try statistics.issuers.map { try IssuerSigner($0.issuer) }
        if json {
            try printJSON(jsonObject(statistics, signers: signers))
        } else {
            printText(statistics, signers: signers, now: now)
        }
    }

    private func jsonObject(_ statistics: RevocationStore.StoreStatistics, signers: [IssuerSigner]) -> [String: Any] {
        var object: [String: Any] = [
            "path": absolutePath(options.store), "fileBytes": statistics.fileBytes,
            "allocatedBytes": statistics.allocatedBytes, "usedBytes": statistics.usedBytes,
            "mapSize": statistics.mapSize, "certificates": statistics.certificates, "responses": statistics.responses,
        ]
        object["lastAuditSequence"] = statistics.lastAuditSequence
        object["issuers"] = zip(statistics.issuers, signers).map { item, signer -> [String: Any] in
            var responses: [String: Any] = ["count": item.responses.count, "expired": item.responses.expired]
            responses["oldestThisUpdate"] = item.responses.oldestThisUpdate.map(rfc3339)
            responses["newestThisUpdate"] = item.responses.newestThisUpdate.map(rfc3339)
            responses["earliestNextUpdate"] = item.responses.earliestNextUpdate.map(rfc3339)
            responses["latestNextUpdate"] = item.responses.latestNextUpdate.map(rfc3339)
            func summary(_ crl: RevocationStore.CRLStatistics.Summary) -> [String: Any] {
                ["number": crl.number, "thisUpdate": rfc3339(crl.thisUpdate), "nextUpdate": rfc3339(crl.nextUpdate)]
            }
            var crl: [String: Any] = ["lastReservedNumber": item.crls.lastReservedNumber, "shards": item.crls.shards]
            crl["full"] = item.crls.full.map(summary)
            crl["delta"] = item.crls.delta.map(summary)
            crl["latestShardNumber"] = item.crls.latestShardNumber
            return [
                "subject": item.issuer.subject, "id": item.issuer.id.description,
                "certificates": countsObject(item.certificates), "responses": responses, "crl": crl,
                "signer": signer.jsonObject,
            ]
        }
        return object
    }

    private func printText(_ statistics: RevocationStore.StoreStatistics, signers: [IssuerSigner], now: Date) {
        print("store \(absolutePath(options.store))")
        print(
            "  data.mdb       \(bytes(statistics.fileBytes)) (\(bytes(statistics.allocatedBytes)) allocated); "
                + "LMDB uses \(bytes(statistics.usedBytes)) of a \(bytes(statistics.mapSize)) map")
        print("  certificates   \(statistics.certificates)")
        print("  responses      \(statistics.responses) cached")
        print("  audit          " + (statistics.lastAuditSequence.map { "last entry #\($0)" } ?? "empty"))
        for (item, signer) in zip(statistics.issuers, signers) {
            let counts = item.certificates
            let responses = item.responses
            print("")
            print("issuer \(item.issuer.subject)")
            print("  id             \(item.issuer.id)")
            print("  certificates   \(counts.total): " + describe(counts))
            var line = "  responses      \(responses.count) cached"
            if let oldest = responses.oldestThisUpdate, let newest = responses.newestThisUpdate,
                let earliest = responses.earliestNextUpdate, let latest = responses.latestNextUpdate
            {
                line += ", \(responses.expired) expired; thisUpdate \(rfc3339(oldest)) … \(rfc3339(newest));"
                line += " nextUpdate \(rfc3339(earliest)) … \(rfc3339(latest))"
            }
            print(line)
            let crls = item.crls
            var parts: [String] = []
            if let full = crls.full { parts.append("full #\(full.number) (next update \(rfc3339(full.nextUpdate)))") }
            if let delta = crls.delta {
                parts.append("delta #\(delta.number) (next update \(rfc3339(delta.nextUpdate)))")
            }
            if crls.shards > 0 { parts.append("\(crls.shards) shards (latest #\(crls.latestShardNumber ?? 0))") }
            if parts.isEmpty { parts.append("none stored") }
            print("  CRLs           \(parts.joined(separator: ", ")); last number reserved \(crls.lastReservedNumber)")
            print("  signer         \(signer.text(now: now))")
        }
    }

    /// `1.6 GiB`, `512 B`.
    private func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// Counts by status, as `stats` and `issuer show` print them in JSON.
func countsObject(_ counts: RevocationStore.CertificateCounts) -> [String: Any] {
    ["good": counts.good, "revoked": counts.revoked, "hold": counts.hold, "total": counts.total]
}

/// `7 good, 1 revoked, 0 on hold`.
func describe(_ counts: RevocationStore.CertificateCounts) -> String {
    "\(counts.good) good, \(counts.revoked) revoked, \(counts.hold) on hold"
}

/// Who signs an issuer's responses: its delegated responder, or the CA itself.
struct IssuerSigner {
    let delegated: Bool
    let certificate: Certificate

    init(_ record: IssuerRecord) throws {
        if let responder = try record.responderCertificate() {
            delegated = true
            certificate = responder
        } else {
            delegated = false
            certificate = try record.certificate()
        }
    }

    /// `mode` (`delegated` or `ca`), the signer's subject, serial, notBefore and notAfter.
    var jsonObject: [String: Any] {
        var object: [String: Any] = [
            "mode": delegated ? "delegated" : "ca", "subject": certificate.subject,
            "serial": certificate.serialNumber.hex,
        ]
        object["notBefore"] = certificate.notBefore.map(rfc3339)
        object["notAfter"] = certificate.notAfter.map(rfc3339)
        return object
    }

    /// `delegated responder SUBJECT, serial HEX, valid until TIME`, or `the CA, …`.
    func text(now: Date) -> String {
        var text = "the CA"
        if delegated { text = "delegated responder \(certificate.subject), serial \(certificate.serialNumber.hex)" }
        if let notAfter = certificate.notAfter {
            text += notAfter <= now ? ", expired \(rfc3339(notAfter))" : ", valid until \(rfc3339(notAfter))"
        }
        return text
    }
}
