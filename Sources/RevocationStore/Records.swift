public import Foundation
public import OCSPCore

/// An issuer's id in the store: SHA-256 of its certificate's DER.
public struct IssuerID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(certificate: Certificate) { bytes = certificate.fingerprint }
    public var description: String { bytes.hexString }
}

/// An issuer (a CA) the responder answers for, and how its responses are signed.
public struct IssuerRecord: Codable, Sendable {
    /// The CA certificate, DER.
    public var certificateDER: Data
    /// The delegated responder certificate (DER), or nil when the CA signs its own responses.
    public var responderCertificateDER: Data?
    /// The CA's private key file (absolute), needed when the CA signs responses or CRLs.
    public var caKeyPath: String?
    /// The delegated responder's private key file (absolute).
    public var responderKeyPath: String?
    /// nextUpdate − thisUpdate of the responses, in seconds.
    public var responseValidity: Double
    public var addedAt: Date

    public init(
        certificate: Certificate, responderCertificate: Certificate?, caKeyPath: String?, responderKeyPath: String?,
        responseValidity: Double, addedAt: Date = Date()
    ) {
        certificateDER = Data(certificate.derEncoded)
        responderCertificateDER = responderCertificate.map { Data($0.derEncoded) }
        self.caKeyPath = caKeyPath
        self.responderKeyPath = responderKeyPath
        self.responseValidity = responseValidity
        self.addedAt = addedAt
    }

    public var id: IssuerID { IssuerID(bytes: sha256([UInt8](certificateDER))) }

    public func certificate() throws -> Certificate { try Certificate(derEncoded: [UInt8](certificateDER)) }

    public func responderCertificate() throws -> Certificate? {
        try responderCertificateDER.map { try Certificate(derEncoded: [UInt8]($0)) }
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
