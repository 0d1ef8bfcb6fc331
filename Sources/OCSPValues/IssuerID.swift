/// An issuer's id in the store: SHA-256 of its certificate's DER (32 bytes).
public struct IssuerID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32

    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { bytes.hexString }

    /// The short name of the issuer in CRL URLs: the first 8 bytes of its id, lower-case hex.
    public var slug: String { Array(bytes.prefix(8)).hexString.lowercased() }
}

/// What a CertID says about its issuer: the hash algorithm and the hashes of the issuer's
/// distinguished name and public key (RFC 6960 §4.1.1). One issuer has one per hash algorithm;
/// the store indexes issuers by them.
public struct IssuerHashes: Hashable, Sendable {
    public let hashAlgorithm: HashAlgorithm
    public let nameHash: [UInt8]
    public let keyHash: [UInt8]

    public init(hashAlgorithm: HashAlgorithm, nameHash: [UInt8], keyHash: [UInt8]) {
        self.hashAlgorithm = hashAlgorithm
        self.nameHash = nameHash
        self.keyHash = keyHash
    }

    /// The store's index key: hash algorithm ‖ nameHash ‖ keyHash.
    public var indexKey: [UInt8] { [hashAlgorithm.rawValue] + nameHash + keyHash }
}
