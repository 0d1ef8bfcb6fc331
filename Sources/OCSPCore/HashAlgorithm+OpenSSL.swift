internal import COpenSSL
internal import OCSPValues

extension HashAlgorithm {
    init?(nid: Int32) {
        switch nid {
        case NID_sha1: self = .sha1
        case NID_sha256: self = .sha256
        case NID_sha384: self = .sha384
        case NID_sha512: self = .sha512
        default: return nil
        }
    }

    var nid: Int32 {
        switch self {
        case .sha1: NID_sha1
        case .sha256: NID_sha256
        case .sha384: NID_sha384
        case .sha512: NID_sha512
        }
    }

    var digest: OpaquePointer? {
        switch self {
        case .sha1: Digests.sha1
        case .sha256: Digests.sha256
        case .sha384: Digests.sha384
        case .sha512: Digests.sha512
        }
    }
}
