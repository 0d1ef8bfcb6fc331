/// The hash algorithms a CertID may use.
public enum HashAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sha1 = 1, sha256 = 2, sha384 = 3, sha512 = 4

    /// The length of a digest, which is the length of a CertID's issuerNameHash and issuerKeyHash.
    public var digestLength: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    public var description: String {
        switch self {
        case .sha1: "SHA-1"
        case .sha256: "SHA-256"
        case .sha384: "SHA-384"
        case .sha512: "SHA-512"
        }
    }
}
