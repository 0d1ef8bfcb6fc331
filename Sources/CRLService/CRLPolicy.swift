package import Foundation
package import RevocationStore

/// How an issuer's CRLs are made.
package struct CRLPolicy: Sendable {
    /// nextUpdate − thisUpdate.
    package var validity: TimeInterval = 7 * 86400
    /// A revoked certificate stays on the CRL until its notAfter plus this long (RFC 5280 §3.3
    /// lets expired certificates drop out; some relying parties want them kept a while).
    package var retention: TimeInterval = 0
    /// More than 1: split the complete CRL into this many shards, a serial's shard fixed by
    /// ``CRLGenerator/shard(of:count:)``; each shard carries an Issuing Distribution Point.
    package var shards: Int = 1
    /// The public base URL of the CRL endpoints (e.g. `http://crl.example.com/`), as relying
    /// parties reach them: written into complete CRLs' Freshest CRL (`<base>crl/<slug>-delta.crl`)
    /// and shards' Issuing Distribution Points (`<base>crl/<slug>/<shard>.crl`). nil: nobody
    /// configured one, so a signed CRL names no URL at all (never a guess such as the listen
    /// address), and CRLs cannot be sharded.
    package var baseURL: String?

    package init() {}

    /// The URL a CRL of `slug` and `scope` is published at, relative to ``baseURL``; nil without one.
    package func url(slug: String, shard: Int? = nil) -> String? {
        baseURL.map { base in (base.hasSuffix("/") ? base : base + "/") + CRLPaths.path(slug: slug, shard: shard).dropFirst() }
    }

    /// The URL the delta CRL of `slug` is published at; nil without a ``baseURL``.
    package func deltaURL(slug: String) -> String? {
        baseURL.map { base in (base.hasSuffix("/") ? base : base + "/") + CRLPaths.deltaPath(slug: slug).dropFirst() }
    }

    /// Why this policy cannot make CRLs, in one line; nil when it can.
    package var problem: String? {
        shards > 1 && baseURL == nil
            ? "sharded CRLs name their scope by URL (Issuing Distribution Point): give the public base URL" : nil
    }
}

/// The URL paths `ocspd` serves CRLs at.
package enum CRLPaths {
    /// `/crl/<slug>.crl`, `/crl/<slug>/<n>.crl`.
    package static func path(slug: String, shard: Int? = nil) -> String {
        if let shard { return "/crl/\(slug)/\(shard).crl" }
        return "/crl/\(slug).crl"
    }

    /// `/crl/<slug>-delta.crl`.
    package static func deltaPath(slug: String) -> String { "/crl/\(slug)-delta.crl" }

    /// The issuer slug and scope a request path names, or nil if it names no CRL.
    package static func parse(_ path: String) -> (slug: String, scope: CRLScope)? {
        guard path.hasPrefix("/crl/"), path.hasSuffix(".crl") else { return nil }
        let name = path.dropFirst(5).dropLast(4)
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let valid: (Substring) -> Bool = { !$0.isEmpty && $0.count <= 64 && $0.allSatisfy(\.isHexDigit) }
        switch parts.count {
        case 1 where name.hasSuffix("-delta") && valid(name.dropLast(6)):
            return (String(name.dropLast(6)), .delta)
        case 1 where valid(name):
            return (String(name), .full)
        case 2 where valid(parts[0]):
            guard let shard = Int(parts[1]), shard >= 0, shard < 4096 else { return nil }
            return (String(parts[0]), .shard(shard))
        default:
            return nil
        }
    }
}
