import Foundation
import OCSPCore
import OCSPTestSupport
import OCSPValues
import Testing

@Suite struct FilterCascadeTests {
    /// `count` distinct random 16-byte serial keys under one prefix.
    static func keys(_ count: Int, prefix: [UInt8] = Array(repeating: 7, count: 32)) -> (FilterKeys, [[UInt8]]) {
        var keys = FilterKeys(prefix: prefix)
        var seen = Set<[UInt8]>()
        var generator = SystemRandomNumberGenerator()
        while seen.count < count {
            let suffix = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if seen.insert(suffix).inserted { keys.append(suffix: suffix) }
        }
        return (keys, Array(seen))
    }

    static func split(_ count: Int, included: Int) -> (FilterKeys, FilterKeys, [[UInt8]], [[UInt8]]) {
        let prefix = Array(repeating: UInt8(7), count: 32)
        let (_, all) = keys(count, prefix: prefix)
        var include = FilterKeys(prefix: prefix)
        var exclude = FilterKeys(prefix: prefix)
        for suffix in all.prefix(included) { include.append(suffix: suffix) }
        for suffix in all.dropFirst(included) { exclude.append(suffix: suffix) }
        return (include, exclude, all.prefix(included).map { prefix + $0 }, all.dropFirst(included).map { prefix + $0 })
    }

    @Test(arguments: [(20_000, 200), (20_000, 2_000), (5_000, 4_000), (3_000, 0), (2_000, 1_999)])
    func answersEveryKeyItWasBuiltFromExactly(count: Int, included: Int) throws {
        let (include, exclude, revoked, good) = Self.split(count, included: included)
        let cascade = try FilterCascade.build(include: include, exclude: exclude, salt: Array(repeating: 1, count: 16))
        #expect(cascade.inverted == (included > count - included))
        #expect(revoked.allSatisfy { cascade.contains($0) })
        #expect(!good.contains { cascade.contains($0) })
        // The MLBF bytes read back into the same answers.
        let decoded = try FilterCascade(encoded: cascade.encoded)
        #expect(decoded.layers == cascade.layers && decoded.salt == cascade.salt && decoded.inverted == cascade.inverted)
        #expect(revoked.allSatisfy { decoded.contains($0) })
        #expect(!good.contains { decoded.contains($0) })
    }

    @Test func anEmptyPopulationStillMakesAFileWithOneLayer() throws {
        let prefix = [UInt8](repeating: 0, count: 32)
        let cascade = try FilterCascade.build(include: FilterKeys(prefix: prefix), exclude: FilterKeys(prefix: prefix), salt: [])
        #expect(cascade.layers.count == 1)
        #expect(!cascade.contains(prefix + [1]))
        #expect(try FilterCascade(encoded: cascade.encoded).layers.count == 1)
    }

    @Test func aKeyInBothSetsIsRefusedNotLoopedOn() {
        var include = FilterKeys(prefix: [])
        var exclude = FilterKeys(prefix: [])
        include.append(suffix: [1, 2, 3])
        exclude.append(suffix: [1, 2, 3])
        #expect(throws: OCSPError.self) { try FilterCascade.build(include: include, exclude: exclude, salt: [9]) }
    }

    @Test func rejectsWhatIsNotAVersion2SHA256Filter() throws {
        let (include, exclude, _, _) = Self.split(2_000, included: 20)
        let good = try FilterCascade.build(include: include, exclude: exclude, salt: [1, 2]).encoded
        var murmur = good
        murmur[6] = 1  // the first layer's hash algorithm (after version, inverted, salt length, salt)
        var version1 = good
        version1[0] = 1
        for bytes in [[], Array(good.dropLast()), murmur, version1, Array(good.prefix(6))] {
            #expect(throws: OCSPError.self) { try FilterCascade(encoded: bytes) }
        }
    }

    @Test func keySuffixIsTheSerialsDERIntegerContents() throws {
        #expect(RevocationFilter.keySuffix(try SerialNumber(hex: "7F01")) == [0x7F, 0x01])
        #expect(RevocationFilter.keySuffix(try SerialNumber(hex: "8001")) == [0x00, 0x80, 0x01])
        #expect(RevocationFilter.keySuffix(try SerialNumber(hex: "00")) == [0x00])
    }
}

@Suite struct RevocationFilterTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    /// A signed filter of the RSA CA in which `revoked` are revoked and `good` are good.
    func filter(revoked: [Certificate], good: [Certificate], coversNotBefore: Date = Date(), nextUpdate: Date = Date() + 3600)
        throws -> ([UInt8], [UInt8])
    {
        let prefix = pki.rsaCA.subjectPublicKeyInfoSHA256
        var include = FilterKeys(prefix: prefix)
        var exclude = FilterKeys(prefix: prefix)
        for certificate in revoked { include.append(suffix: RevocationFilter.keySuffix(certificate.serialNumber)) }
        for certificate in good { exclude.append(suffix: RevocationFilter.keySuffix(certificate.serialNumber)) }
        let mlbf = try FilterCascade.build(include: include, exclude: exclude, salt: [5, 5]).encoded
        let metadata = RevocationFilter.Metadata(
            issuer: pki.rsaCA, sequence: 9, thisUpdate: Date() - 60, nextUpdate: nextUpdate, coversNotBefore: coversNotBefore,
            revoked: revoked.count, good: good.count, filter: mlbf)
        return (mlbf, try RevocationFilter.sign(metadata, issuer: pki.rsaCA, key: pki.rsaKey))
    }

    @Test func answersRevokedGoodAndNotCovered() throws {
        let leaves = try (0..<4).map { try pki.leaf("leaf \($0)", issuer: pki.rsaCA, key: pki.rsaKey) }
        let (mlbf, meta) = try filter(revoked: [leaves[0]], good: [leaves[1], leaves[2]])
        let filter = try RevocationFilter(mlbf: mlbf, signedMetadata: meta, issuer: pki.rsaCA)
        #expect(filter.metadata.sequence == 9 && filter.metadata.population == 3)
        #expect(filter.answer(for: leaves[0]) == .revoked)
        #expect(filter.answer(for: leaves[1]) == .good)
        // Issued by another CA; stale.
        let other = try pki.leaf("other", issuer: pki.root, key: pki.rootKey)
        guard case .notCovered = filter.answer(for: other) else { Issue.record("another issuer's leaf is covered"); return }
        guard case .notCovered = filter.answer(for: leaves[1], at: Date() + 7200) else { Issue.record("a stale filter answered"); return }
    }

    @Test func aCertificateIssuedAfterTheCoverageIsNotCovered() throws {
        let leaf = try pki.leaf("late", issuer: pki.rsaCA, key: pki.rsaKey)  // notBefore: an hour ago
        let (mlbf, meta) = try filter(revoked: [], good: [leaf], coversNotBefore: Date() - 7200)
        let filter = try RevocationFilter(mlbf: mlbf, signedMetadata: meta, issuer: nil)
        guard case .notCovered(let why) = filter.answer(for: leaf) else { Issue.record("covered"); return }
        #expect(why.contains("issued after the filter"))
    }

    @Test func refusesAlteredBytesAndAnotherSigner() throws {
        let leaf = try pki.leaf("x", issuer: pki.rsaCA, key: pki.rsaKey)
        let (mlbf, meta) = try filter(revoked: [leaf], good: [])
        var altered = mlbf
        altered[altered.count - 1] ^= 1
        #expect(throws: OCSPError.self) { try RevocationFilter(mlbf: altered, signedMetadata: meta, issuer: pki.rsaCA) }
        var badSignature = meta
        badSignature[badSignature.count - 10] ^= 1
        #expect(throws: OCSPError.self) { try RevocationFilter(mlbf: mlbf, signedMetadata: badSignature, issuer: pki.rsaCA) }
        #expect(throws: OCSPError.self) { try RevocationFilter(mlbf: mlbf, signedMetadata: meta, issuer: pki.root) }
        #expect(throws: OCSPError.self) { try RevocationFilter(mlbf: mlbf, signedMetadata: Array("junk".utf8), issuer: nil) }
        #expect(try RevocationFilter(mlbf: mlbf, signedMetadata: meta, issuer: nil).issuer == pki.rsaCA)
    }
}
