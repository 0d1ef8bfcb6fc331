public import Foundation
public import OCSPValues

/// An issuer (a CA) the responder answers for, and how its responses are signed.
///
/// The store keeps certificates as DER and never parses them: whoever adds an issuer (`ocspctl`,
/// through OCSPCore) supplies its id, subject and CertID hashes.
public struct IssuerRecord: Sendable {
    /// SHA-256 of the CA certificate's DER: the issuer's key in the store.
    public let id: IssuerID
    /// The CA certificate's subject, for messages and the audit log.
    public var subject: String
    /// The CA certificate, DER.
    public var certificateDER: [UInt8]
    /// The delegated responder certificate (DER), or nil when the CA signs its own responses.
    public var responderCertificateDER: [UInt8]?
    /// The CA's private key file (absolute), needed when the CA signs responses or CRLs.
    public var caKeyPath: String?
    /// The delegated responder's private key file (absolute).
    public var responderKeyPath: String?
    /// nextUpdate − thisUpdate of the responses, in seconds.
    public var responseValidity: Double
    public var addedAt: Date
    /// The issuer's CertID hashes, one per hash algorithm: what requests name it by.
    public var certIDHashes: [IssuerHashes]
    /// Leave the signer's certificate out of the responses (`issuer add --omit-signer-certificate`):
    /// a few hundred bytes less each, but OpenSSL's `OCSP_basic_verify` (nginx fetch mode, curl)
    /// then cannot find the signer unless it is in the chain it is given, never in its trust store.
    public var omitsSignerCertificate: Bool

    public init(
        id: IssuerID, subject: String, certificateDER: [UInt8], responderCertificateDER: [UInt8]?, caKeyPath: String?,
        responderKeyPath: String?, responseValidity: Double, certIDHashes: [IssuerHashes], addedAt: Date = Date(),
        omitsSignerCertificate: Bool = false
    ) {
        self.id = id
        self.subject = subject
        self.certificateDER = certificateDER
        self.responderCertificateDER = responderCertificateDER
        self.caKeyPath = caKeyPath
        self.responderKeyPath = responderKeyPath
        self.responseValidity = responseValidity
        self.certIDHashes = certIDHashes
        self.addedAt = addedAt
        self.omitsSignerCertificate = omitsSignerCertificate
    }

    /// Whether the CA signs its own responses (no delegated responder).
    public var isSignedByCA: Bool { responderCertificateDER == nil }
}

extension IssuerRecord {
    /// The JSON kept in the `issuers` database. Fields added after the first version are optional,
    /// so older stores still read.
    private struct Stored: Codable {
        var certificateDER: Data
        var responderCertificateDER: Data?
        var caKeyPath: String?
        var responderKeyPath: String?
        var responseValidity: Double
        var addedAt: Date
        var subject: String?
        var certIDHashes: [StoredHashes]?
        /// Absent (false) unless set: records written before it, and most after, read the same.
        var omitsSignerCertificate: Bool?
    }

    private struct StoredHashes: Codable {
        var algorithm: UInt8
        var nameHash: Data
        var keyHash: Data
    }

    func encoded() throws -> [UInt8] {
        let stored = Stored(
            certificateDER: Data(certificateDER), responderCertificateDER: responderCertificateDER.map { Data($0) },
            caKeyPath: caKeyPath, responderKeyPath: responderKeyPath, responseValidity: responseValidity,
            addedAt: addedAt, subject: subject,
            certIDHashes: certIDHashes.map {
                StoredHashes(algorithm: $0.hashAlgorithm.rawValue, nameHash: Data($0.nameHash), keyHash: Data($0.keyHash))
            }, omitsSignerCertificate: omitsSignerCertificate ? true : nil)
        return [UInt8](try JSONEncoder().encode(stored))
    }

    init(id: IssuerID, encoded json: [UInt8]) throws {
        let stored: Stored
        do {
            stored = try JSONDecoder().decode(Stored.self, from: Data(json))
        } catch {
            throw StoreError(.corrupt, "the record of issuer \(id) does not decode: \(error)")
        }
        self.init(
            id: id, subject: stored.subject ?? "issuer \(id)", certificateDER: [UInt8](stored.certificateDER),
            responderCertificateDER: stored.responderCertificateDER.map { [UInt8]($0) }, caKeyPath: stored.caKeyPath,
            responderKeyPath: stored.responderKeyPath, responseValidity: stored.responseValidity,
            certIDHashes: (stored.certIDHashes ?? []).compactMap { hashes in
                HashAlgorithm(rawValue: hashes.algorithm).map {
                    IssuerHashes(hashAlgorithm: $0, nameHash: [UInt8](hashes.nameHash), keyHash: [UInt8](hashes.keyHash))
                }
            },
            addedAt: stored.addedAt, omitsSignerCertificate: stored.omitsSignerCertificate ?? false)
    }
}

/// The revocation state of one certificate.
public struct CertificateRecord: Hashable, Sendable {
    public var status: Status
    /// The certificate's notAfter, when known (CRLs drop expired entries).
    public var notAfter: Date?
    /// When the status last changed (delta CRLs list what changed since their base).
    public var changedAt: Date?
    /// When a hold was last released (delta CRLs list it with reason removeFromCRL).
    public var releasedFromHoldAt: Date?

    public enum Status: Hashable, Sendable {
        case good
        case revoked(time: Date, reason: RevocationReason?, invalidityDate: Date?)
    }

    public init(status: Status, notAfter: Date?, changedAt: Date? = nil, releasedFromHoldAt: Date? = nil) {
        self.status = status
        self.notAfter = notAfter
        self.changedAt = changedAt
        self.releasedFromHoldAt = releasedFromHoldAt
    }

    /// Whether the certificate is on hold (revoked with reason certificateHold).
    public var isOnHold: Bool {
        if case .revoked(_, .certificateHold, _) = status { return true }
        return false
    }

    /// The OCSP status this record answers.
    public var certStatus: CertStatus {
        switch status {
        case .good: .good
        case .revoked(let time, let reason, _): .revoked(time: time, reason: reason == .unspecified ? nil : reason)
        }
    }

    /// When the key of a revoked certificate is known or suspected to have been compromised
    /// (RFC 5280 §5.3.2), if that was recorded; nil for a good certificate.
    public var invalidityDate: Date? {
        guard case .revoked(_, _, let date) = status else { return nil }
        return date
    }

    // Encoding v2: version(1) status(1) reason(1, 0xFF = none) revocationTime(8) notAfter(8)
    // invalidityDate(8) changedAt(8) releasedFromHoldAt(8), integers big-endian seconds since
    // 1970, 0 = absent. Version 1 (the first 27 bytes) still decodes.
    static let encodedCount = 43

    var encoded: [UInt8] {
        var out: [UInt8] = [2]
        var revocationTime: Int64 = 0
        var invalidity: Int64 = 0
        switch status {
        case .good:
            out += [0, 0xFF]
        case .revoked(let time, let reason, let invalidityDate):
            out += [1, reason.map { UInt8($0.rawValue) } ?? 0xFF]
            revocationTime = Int64(time.timeIntervalSince1970)
            invalidity = invalidityDate.map(Self.seconds) ?? 0
        }
        let fields: [Int64] = [
            revocationTime, notAfter.map(Self.seconds) ?? 0, invalidity, changedAt.map(Self.seconds) ?? 0,
            releasedFromHoldAt.map(Self.seconds) ?? 0,
        ]
        for value in fields {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        return out
    }

    private static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    init(encoded bytes: UnsafeRawBufferPointer) throws {
        guard (bytes.count == 27 && bytes[0] == 1) || (bytes.count == Self.encodedCount && bytes[0] == 2) else {
            throw StoreError(.corrupt, "certificate record has an unknown format")
        }
        func int64(at offset: Int) -> Int64 {
            Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }
        func date(at offset: Int) -> Date? {
            guard offset + 8 <= bytes.count else { return nil }
            let seconds = int64(at: offset)
            return seconds == 0 ? nil : Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        notAfter = date(at: 11)
        changedAt = date(at: 27)
        releasedFromHoldAt = date(at: 35)
        switch bytes[1] {
        case 0: status = .good
        case 1:
            let reason = bytes[2] == 0xFF ? nil : RevocationReason(rawValue: Int(bytes[2]))
            status = .revoked(
                time: Date(timeIntervalSince1970: TimeInterval(int64(at: 3))), reason: reason,
                invalidityDate: date(at: 19))
        default: throw StoreError(.corrupt, "certificate record has an unknown status")
        }
    }
}
