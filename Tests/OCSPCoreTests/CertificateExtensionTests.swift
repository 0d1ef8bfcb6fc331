import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Testing

/// The extensions OpenSSL decodes for ``Certificate/crlURLs`` and ``Certificate/isMustStaple``.
@Suite struct CertificateExtensionTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    func leaf(_ extensions: [(String, String)]) throws -> Certificate {
        try pki.leaf("site.test", issuer: pki.root, key: pki.rootKey, extensions: extensions)
    }

    /// A DER test vector: tag, short-form length, content.
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] { [tag, UInt8(content.count)] + content }
    static func tlv(_ tag: UInt8, _ text: String) -> [UInt8] { tlv(tag, Array(text.utf8)) }

    /// OpenSSL's config syntax for an extension of these exact bytes.
    static func raw(_ der: [UInt8]) -> String {
        "DER:" + der.map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    @Test func crlURLsAreTheURIsOfEveryDistributionPointInOrder() throws {
        #expect(try leaf([]).crlURLs.isEmpty)
        let two = try leaf([("crlDistributionPoints", "URI:http://x.test/1.crl,URI:http://y.test/2.crl")])
        #expect(two.crlURLs == ["http://x.test/1.crl", "http://y.test/2.crl"])

        // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } }: names that are
        // not URIs and points named relative to the CRL issuer are passed over.
        let fullName = Self.tlv(
            0xA0,
            Self.tlv(0x86, "http://a.test/1.crl") + Self.tlv(0x82, "b.test") + Self.tlv(0x86, "http://c.test/2.crl"))
        let relative = Self.tlv(0xA1, Self.tlv(0x30, [0x06, 0x03, 0x55, 0x04, 0x03] + Self.tlv(0x0C, "x")))
        let points = Self.tlv(
            0x30,
            Self.tlv(0x30, Self.tlv(0xA0, fullName)) + Self.tlv(0x30, Self.tlv(0xA0, relative))
                + Self.tlv(0x30, Self.tlv(0xA0, Self.tlv(0xA0, Self.tlv(0x86, "ldap://d.test/cn=x")))))
        let several = try leaf([("crlDistributionPoints", Self.raw(points))])
        #expect(several.crlURLs == ["http://a.test/1.crl", "http://c.test/2.crl", "ldap://d.test/cn=x"])

        // A distribution point without a name (only a cRLIssuer) has no URL.
        let issuerOnly = Self.tlv(0x30, Self.tlv(0x30, Self.tlv(0xA2, Self.tlv(0x86, "http://e.test/"))))
        #expect(try leaf([("crlDistributionPoints", Self.raw(issuerOnly))]).crlURLs.isEmpty)

        // An extension that does not decode gives none.
        #expect(try leaf([("crlDistributionPoints", Self.raw([0x01, 0x02]))]).crlURLs.isEmpty)
    }

    @Test func mustStapleIsStatusRequestAmongTheTLSFeatures() throws {
        #expect(try !leaf([]).isMustStaple)
        #expect(try leaf([("tlsfeature", "status_request")]).isMustStaple)
        #expect(try leaf([("tlsfeature", "status_request_v2,status_request")]).isMustStaple)
        #expect(try !leaf([("tlsfeature", "status_request_v2")]).isMustStaple)
        // SEQUENCE OF INTEGER: 17 (status_request_v2) then 5.
        #expect(try leaf([("tlsfeature", Self.raw(Self.tlv(0x30, [0x02, 0x01, 0x11, 0x02, 0x01, 0x05])))]).isMustStaple)
        #expect(try !leaf([("tlsfeature", Self.raw(Self.tlv(0x30, [])))]).isMustStaple)
        // A TLS Feature extension that does not decode counts as must-staple (the safe reading).
        #expect(try leaf([("tlsfeature", Self.raw([0x05, 0x00]))]).isMustStaple)
    }
}
