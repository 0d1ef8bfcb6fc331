import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Testing

/// The fast path's request reader must find exactly what OpenSSL's full decoder finds, and give up
/// (return nil, so the full decoder answers) on anything else.
@Suite struct SimpleOCSPRequestTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    /// What the simple reader found, as values.
    func located(_ der: [UInt8]) -> (HashAlgorithm, [UInt8], [UInt8], [UInt8])? {
        der.withUnsafeBytes { raw in
            SimpleOCSPRequest(der: raw).map {
                ($0.hashAlgorithm, Array(raw[$0.issuerNameHash]), Array(raw[$0.issuerKeyHash]), Array(raw[$0.serialNumber]))
            }
        }
    }

    /// What OpenSSL's decoder found, when it is one CertID without a nonce.
    func decoded(_ der: [UInt8]) -> (HashAlgorithm, [UInt8], [UInt8], [UInt8])? {
        guard let request = try? OCSPRequest(derEncoded: der), request.certIDs.count == 1, !request.hasNonce,
            let certID = request.certIDs[0]
        else { return nil }
        return (certID.hashAlgorithm, certID.issuerNameHash, certID.issuerKeyHash, certID.serialNumber.bytes)
    }

    @Test(arguments: HashAlgorithm.allCases)
    func findsWhatOpenSSLFinds(algorithm: HashAlgorithm) throws {
        for serial in [[0x05], [0x80, 0x01], [0x00], [0x7F] + Array(repeating: 0xAB, count: 19)] as [[UInt8]] {
            let der = try OCSPRequestBuilder.build(
                [CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: serial), hashAlgorithm: algorithm)])
            let fast = try #require(located(der))
            let full = try #require(decoded(der))
            #expect(fast.0 == full.0 && fast.1 == full.1 && fast.2 == full.2 && fast.3 == full.3)
            #expect(fast.3 == SerialNumber(bytes: serial).bytes, "the serial's magnitude, without the sign octet")
        }
    }

    @Test func absentHashParametersAreSimpleToo() throws {
        let der = request(algorithm: Self.sha1WithoutParameters)
        #expect(located(der) != nil)
        #expect(located(der)?.3 == decoded(der)?.3)
    }

    /// Everything a relying party may legitimately send that is not the plain profile, and
    /// everything malformed: the full decoder's business.
    @Test func givesUpOnAnythingElse() throws {
        let certID = try CertID(issuer: pki.root, serialNumber: SerialNumber(bytes: [5]))
        let plain = try OCSPRequestBuilder.build([certID])
        #expect(located(plain) != nil)
        // The hand-made request each case below varies is itself simple, and OpenSSL reads it alike.
        #expect(located(request()) != nil && located(request())?.3 == decoded(request())?.3)
        #expect(located(wrapTBS(requestList())) != nil)
        let cases: [(String, [UInt8])] = [
            ("nonce", try OCSPRequestBuilder.build([certID], nonce: true)),
            ("two CertIDs", try OCSPRequestBuilder.build([certID, certID])),
            ("trailing byte", plain + [0]),
            ("truncated", Array(plain.dropLast())),
            ("empty", []),
            ("hash parameters a2 00", request(algorithm: Self.sha1OID + [0xA2, 0x00])),
            ("hash parameters NULL with contents", request(algorithm: Self.sha1OID + [0x05, 0x01, 0x00])),
            ("unknown hash (MD5)", request(algorithm: tlv(0x06, [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x05]) + [0x05, 0x00])),
            ("negative serial", request(serial: [0xFF])),
            ("serial with needless leading zero", request(serial: [0x00, 0x05])),
            ("empty serial", request(serial: [])),
            ("serial of 21 octets", request(serial: [0x01] + Array(repeating: 0, count: 20))),
            ("name hash of 19 octets", request(nameHash: Array(repeating: 1, count: 19))),
            ("version present", wrapTBS(tlv(0xA0, tlv(0x02, [0])) + requestList())),
            ("requestorName present", wrapTBS(tlv(0xA1, tlv(0x82, Array("x".utf8))) + requestList())),
            ("request extensions", wrapTBS(requestList() + tlv(0xA2, tlv(0x30, [])))),
            ("single request extensions", wrapTBS(tlv(0x30, tlv(0x30, certIDBytes() + tlv(0xA0, tlv(0x30, [])))))),
            ("optionalSignature", tlv(0x30, tlv(0x30, requestList()) + tlv(0xA0, tlv(0x30, [])))),
            ("indefinite length", [0x30, 0x80] + tlv(0x30, requestList()) + [0x00, 0x00]),
            ("constructed OCTET STRING", request(nameHashTag: 0x24)),
        ]
        for (name, der) in cases {
            #expect(located(der) == nil, "\(name) must take the full path")
        }
    }

    /// Hash parameters other than absent or NULL make the CertID malformed for the full decoder
    /// too (so a nonce or a second CertID cannot get such bytes echoed into a signed answer).
    @Test func invalidHashParametersAreMalformed() throws {
        let odd = certIDBytes(algorithm: Self.sha1OID + [0xA2, 0x00])
        let plain = certIDBytes()
        let nonce = tlv(0xA2, tlv(0x30, tlv(0x30, [0x06, 0x09, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02]
            + tlv(0x04, tlv(0x04, Array(repeating: 7, count: 16))))))
        for der in [
            wrapTBS(tlv(0x30, tlv(0x30, odd)) + nonce),  // with a nonce
            wrapTBS(tlv(0x30, tlv(0x30, odd) + tlv(0x30, plain))),  // two CertIDs
            wrapTBS(tlv(0x30, tlv(0x30, certIDBytes(algorithm: Self.sha1OID + [0x04, 0x01, 0x00])))),
        ] {
            #expect(located(der) == nil)
            #expect(throws: OCSPError(.malformedRequest, "")) { try OCSPRequest(derEncoded: der) }
        }
        // Absent and NULL parameters stay valid, with a nonce too.
        for algorithm in [Self.sha1OID, Self.sha1OID + [0x05, 0x00]] {
            let request = try OCSPRequest(derEncoded: wrapTBS(tlv(0x30, tlv(0x30, certIDBytes(algorithm: algorithm))) + nonce))
            #expect(request.hasNonce && request.certIDs.count == 1)
        }
    }

    /// Random damage to valid requests: whenever the simple reader accepts the bytes, OpenSSL's
    /// decoder must accept them too and read the same CertID.
    @Test func neverDisagreesWithOpenSSL() throws {
        var generator = SeededGenerator(seed: 20_261_130)
        let seeds = try HashAlgorithm.allCases.flatMap { algorithm in
            try [false, true].map { nonce in
                try OCSPRequestBuilder.build(
                    [CertID(issuer: pki.rsaCA, serialNumber: SerialNumber(bytes: [0x81, 0x02]), hashAlgorithm: algorithm)],
                    nonce: nonce)
            }
        } + [request(algorithm: Self.sha1WithoutParameters)]
        var accepted = 0
        for _ in 0..<20_000 {
            var der = seeds[Int.random(in: 0..<seeds.count, using: &generator)]
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<der.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: der[index] = UInt8.random(in: 0...255, using: &generator)
                case 1: der[index] ^= 1 << UInt8.random(in: 0...7, using: &generator)
                case 2: der.remove(at: index)
                default: der.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                }
                if der.isEmpty { break }
            }
            guard let fast = located(der) else { continue }
            accepted += 1
            let full = try #require(decoded(der), "accepted bytes OpenSSL rejects: \(der)")
            #expect(fast.0 == full.0 && fast.1 == full.1 && fast.2 == full.2 && fast.3 == full.3, "\(der)")
        }
        #expect(accepted > 0, "some mutations (in the hashes, say) stay simple requests")
    }

    // MARK: - Hand-made DER (test vectors only)

    static let sha1OID = [0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A] as [UInt8]
    static let sha1WithoutParameters = sha1OID

    func tlv(_ tag: UInt8, _ contents: [UInt8]) -> [UInt8] {
        precondition(contents.count < 0x1_0000)
        if contents.count < 0x80 { return [tag, UInt8(contents.count)] + contents }
        if contents.count < 0x100 { return [tag, 0x81, UInt8(contents.count)] + contents }
        return [tag, 0x82, UInt8(contents.count >> 8), UInt8(contents.count & 0xFF)] + contents
    }

    func certIDBytes(
        algorithm: [UInt8] = sha1OID + [0x05, 0x00], nameHash: [UInt8] = Array(repeating: 1, count: 20),
        nameHashTag: UInt8 = 0x04, serial: [UInt8] = [0x05]
    ) -> [UInt8] {
        tlv(0x30, tlv(0x30, algorithm) + tlv(nameHashTag, nameHash) + tlv(0x04, Array(repeating: 2, count: 20)) + tlv(0x02, serial))
    }

    func requestList(_ certID: [UInt8]? = nil) -> [UInt8] { tlv(0x30, tlv(0x30, certID ?? certIDBytes())) }

    func wrapTBS(_ tbsContents: [UInt8]) -> [UInt8] { tlv(0x30, tlv(0x30, tbsContents)) }

    func request(
        algorithm: [UInt8] = sha1OID + [0x05, 0x00], nameHash: [UInt8] = Array(repeating: 1, count: 20),
        nameHashTag: UInt8 = 0x04, serial: [UInt8] = [0x05]
    ) -> [UInt8] {
        wrapTBS(requestList(certIDBytes(algorithm: algorithm, nameHash: nameHash, nameHashTag: nameHashTag, serial: serial)))
    }
}

/// A small deterministic generator (SplitMix64), so a failure can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
