internal import COpenSSL
public import OCSPValues

/// The request most relying parties send (RFC 5019 §2.1.1): one CertID, unsigned, with no
/// requestorName, no extensions (no nonce) and a SHA-1/SHA-256/384/512 CertID, found in the
/// request's bytes without building OpenSSL objects for it.
///
/// ```
/// OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest }      -- no optionalSignature
/// TBSRequest  ::= SEQUENCE { requestList SEQUENCE OF Request }   -- one Request; no version,
///                                                                 -- requestorName, extensions
/// Request     ::= SEQUENCE { reqCert CertID }             -- no singleRequestExtensions
/// CertID      ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, -- parameters absent or NULL
///                            issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING,
///                            serialNumber CertificateSerialNumber }
/// ```
/// OpenSSL reads every tag and length (`ASN1_get_object`), and its object table supplies the
/// hash algorithms' OIDs; this type only checks that the elements are the ones above, in that
/// order, with nothing left over. Anything else, including anything OpenSSL would reject, is
/// not a simple request: ``init(der:)`` returns nil and the caller decodes the request with
/// ``OCSPRequest/init(derEncoded:)``, which answers every case.
public struct SimpleOCSPRequest: Sendable {
    public let hashAlgorithm: HashAlgorithm
    /// Where in the request bytes the issuerNameHash and issuerKeyHash contents are.
    public let issuerNameHash: Range<Int>
    public let issuerKeyHash: Range<Int>
    /// Where the serial number's magnitude is: the INTEGER's contents without a leading zero
    /// octet (at most 20 octets, RFC 5280 §4.1.2.2; a negative serial is not simple).
    public let serialNumber: Range<Int>

    /// Locates the CertID in `der`, or returns nil if the request is not this simple.
    public init?(der: UnsafeRawBufferPointer) {
        guard let base = der.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var outer = Reader(base: base, range: 0..<der.count)
        guard let request = outer.next(.sequence), outer.isAtEnd else { return nil }
        var requestFields = Reader(base: base, range: request)
        guard let tbsRequest = requestFields.next(.sequence), requestFields.isAtEnd else { return nil }
        var tbsFields = Reader(base: base, range: tbsRequest)
        guard let requestList = tbsFields.next(.sequence), tbsFields.isAtEnd else { return nil }
        var list = Reader(base: base, range: requestList)
        guard let single = list.next(.sequence), list.isAtEnd else { return nil }
        var singleFields = Reader(base: base, range: single)
        guard let certID = singleFields.next(.sequence), singleFields.isAtEnd else { return nil }
        var certIDFields = Reader(base: base, range: certID)
        guard let algorithm = certIDFields.next(.sequence),
            let nameHash = certIDFields.next(.octetString),
            let keyHash = certIDFields.next(.octetString),
            let serial = certIDFields.next(.integer), certIDFields.isAtEnd
        else { return nil }
        var algorithmFields = Reader(base: base, range: algorithm)
        guard let oid = algorithmFields.next(.objectIdentifier) else { return nil }
        if !algorithmFields.isAtEnd {
            guard let parameters = algorithmFields.next(.null), parameters.isEmpty, algorithmFields.isAtEnd else {
                return nil
            }
        }
        let oidBytes = UnsafeRawBufferPointer(rebasing: der[oid])
        guard let hashAlgorithm = hashAlgorithmOIDs.first(where: { $0.oid.elementsEqual(oidBytes) })?.algorithm,
            nameHash.count == hashAlgorithm.digestLength, keyHash.count == hashAlgorithm.digestLength
        else { return nil }
        // INTEGER contents: non-negative, minimal (a leading zero only before a high bit).
        guard let first = serial.first.map({ der[$0] }), first < 0x80 else { return nil }
        var magnitude = serial
        if first == 0, serial.count > 1 {
            guard der[serial.lowerBound + 1] >= 0x80 else { return nil }
            magnitude = serial.dropFirst()
        }
        guard magnitude.count <= 20 else { return nil }
        self.hashAlgorithm = hashAlgorithm
        issuerNameHash = nameHash
        issuerKeyHash = keyHash
        serialNumber = magnitude
    }

    /// Universal tags, with whether they are constructed.
    private enum Element {
        case sequence, octetString, integer, objectIdentifier, null

        var tag: Int32 {
            switch self {
            case .sequence: V_ASN1_SEQUENCE
            case .octetString: V_ASN1_OCTET_STRING
            case .integer: V_ASN1_INTEGER
            case .objectIdentifier: V_ASN1_OBJECT
            case .null: V_ASN1_NULL
            }
        }

        var isConstructed: Bool { self == .sequence }
    }

    /// Reads the elements of one constructed value, one after another, with `ASN1_get_object`.
    private struct Reader {
        let base: UnsafePointer<UInt8>
        var range: Range<Int>

        var isAtEnd: Bool { range.isEmpty }

        /// The contents of the next element if it is `element` (universal class, definite length,
        /// within the range); nil otherwise.
        mutating func next(_ element: Element) -> Range<Int>? {
            guard !range.isEmpty else { return nil }
            var cursor: UnsafePointer<UInt8>? = base + range.lowerBound
            var length = 0
            var tag: Int32 = 0
            var tagClass: Int32 = 0
            let flags = ASN1_get_object(&cursor, &length, &tag, &tagClass, range.count)
            // 0x80: an error (bad header, or contents longer than the range), which OpenSSL also
            // queued; 0x01: indefinite length, which DER does not allow.
            if flags & 0x80 != 0 {
                ERR_clear_error()
                return nil
            }
            guard flags & 0x01 == 0, let cursor, tag == element.tag, tagClass == V_ASN1_UNIVERSAL,
                (flags & V_ASN1_CONSTRUCTED != 0) == element.isConstructed
            else { return nil }
            let start = base.distance(to: cursor)
            let contents = start..<(start + length)
            range = contents.upperBound..<range.upperBound
            return contents
        }
    }
}

/// The DER contents of each supported hash algorithm's OID, from OpenSSL's object table.
private let hashAlgorithmOIDs: [(algorithm: HashAlgorithm, oid: [UInt8])] = HashAlgorithm.allCases.compactMap { algorithm in
    guard let object = OBJ_nid2obj(algorithm.nid), let data = OBJ_get0_data(object) else { return nil }
    return (algorithm, Array(UnsafeBufferPointer(start: data, count: Int(OBJ_length(object)))))
}
