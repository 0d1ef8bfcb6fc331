/// How OCSP names one certificate: its issuer's name and key hashes, under one hash algorithm, and
/// its serial number (RFC 6960 §4.1.1).
///
/// ```
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
/// A CertID read from a request keeps its DER, so the response echoes it byte for byte; one built
/// here from its parts is encoded the way OpenSSL encodes it (hash parameters NULL).
///
/// Equality compares the four fields: two encodings of one CertID name the same certificate.
public struct CertID: Hashable, Sendable {
    public let hashAlgorithm: HashAlgorithm
    public let issuerNameHash: [UInt8]
    public let issuerKeyHash: [UInt8]
    public let serialNumber: SerialNumber
    /// The DER encoding as received, or nil for one built from its parts.
    public let derEncoded: [UInt8]?

    /// A CertID from its parts (the issuer hashes computed once, for signing many responses).
    public init(hashAlgorithm: HashAlgorithm, issuerNameHash: [UInt8], issuerKeyHash: [UInt8], serialNumber: SerialNumber) {
        self.init(
            hashAlgorithm: hashAlgorithm, issuerNameHash: issuerNameHash, issuerKeyHash: issuerKeyHash,
            serialNumber: serialNumber, derEncoded: nil)
    }

    /// The CertID of `serialNumber` issued by the issuer that `issuer` describes.
    public init(issuer: IssuerHashes, serialNumber: SerialNumber) {
        self.init(
            hashAlgorithm: issuer.hashAlgorithm, issuerNameHash: issuer.nameHash, issuerKeyHash: issuer.keyHash,
            serialNumber: serialNumber)
    }

    /// A CertID as decoded from a message, keeping the encoding it arrived in.
    package init(
        hashAlgorithm: HashAlgorithm, issuerNameHash: [UInt8], issuerKeyHash: [UInt8], serialNumber: SerialNumber,
        derEncoded: [UInt8]?
    ) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
        self.derEncoded = derEncoded
    }

    /// The issuer part: hash algorithm, name hash and key hash.
    public var issuer: IssuerHashes {
        IssuerHashes(hashAlgorithm: hashAlgorithm, nameHash: issuerNameHash, keyHash: issuerKeyHash)
    }

    /// The same CertID without its received DER: encoded the way OpenSSL encodes it.
    package var builtFromParts: CertID {
        CertID(hashAlgorithm: hashAlgorithm, issuerNameHash: issuerNameHash, issuerKeyHash: issuerKeyHash, serialNumber: serialNumber)
    }

    public static func == (lhs: CertID, rhs: CertID) -> Bool {
        lhs.hashAlgorithm == rhs.hashAlgorithm && lhs.serialNumber == rhs.serialNumber
            && lhs.issuerNameHash == rhs.issuerNameHash && lhs.issuerKeyHash == rhs.issuerKeyHash
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hashAlgorithm)
        hasher.combine(issuerNameHash)
        hasher.combine(issuerKeyHash)
        hasher.combine(serialNumber)
    }
}
