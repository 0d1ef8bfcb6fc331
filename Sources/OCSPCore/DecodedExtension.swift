internal import COpenSSL

/// An extension of a certificate or a CRL as OpenSSL decodes it (`X509_get_ext_d2i`,
/// `X509_CRL_get_ext_d2i`), read into a Swift value.
enum DecodedExtension<Value> {
    /// The extension is not there.
    case absent
    /// It is there but does not decode, or it is there more than once.
    case undecodable
    case decoded(Value)

    /// An `X509_get_ext_d2i`-style call for one extension, given OpenSSL's criticality
    /// out-parameter (-1 after it: absent; -2: there more than once).
    typealias Decoder = (_ critical: UnsafeMutablePointer<Int32>) -> UnsafeMutableRawPointer?

    /// Calls `decode` and, when it returns a structure, `read` on it; then frees it with `free`.
    init(
        _ decode: Decoder, free: (UnsafeMutableRawPointer) -> Void, read: (UnsafeMutableRawPointer) -> Value
    ) {
        var critical: Int32 = 0
        guard let decoded = decode(&critical) else {
            self = critical == -1 ? .absent : .undecodable
            return
        }
        defer { free(decoded) }
        self = .decoded(read(decoded))
    }

    /// The value when it decoded, else nil.
    var value: Value? {
        guard case .decoded(let value) = self else { return nil }
        return value
    }
}

extension DecodedExtension<[String]> {
    /// The URIs of the full names of a certificate's CRL Distribution Points or of a CRL's
    /// Freshest CRL, in order (RFC 5280 §4.2.1.13, §5.2.6):
    ///
    /// ```
    /// CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
    /// DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL,
    ///     reasons [1] ReasonFlags OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }
    /// ```
    static func distributionPointURIs(_ decode: Decoder) -> Self {
        Self(decode, free: { CRL_DIST_POINTS_free(OpaquePointer($0)) }) { points in
            elements(of: OpaquePointer(points), count: COpenSSL_sk_DIST_POINT_num, value: COpenSSL_sk_DIST_POINT_value)
                .flatMap { fullNameURIs($0.pointee.distpoint) }
        }
    }

    /// The URIs of the full name of a CRL's Issuing Distribution Point (RFC 5280 §5.2.5):
    ///
    /// ```
    /// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL, … }
    /// ```
    static func issuingDistributionPointURIs(_ decode: Decoder) -> Self {
        Self(decode, free: { ISSUING_DIST_POINT_free($0.assumingMemoryBound(to: ISSUING_DIST_POINT.self)) }) { point in
            fullNameURIs(point.assumingMemoryBound(to: ISSUING_DIST_POINT.self).pointee.distpoint)
        }
    }

    /// The non-empty URIs of a DistributionPointName that is a full name; none for a name
    /// relative to the CRL issuer:
    ///
    /// ```
    /// DistributionPointName ::= CHOICE { fullName [0] GeneralNames,
    ///     nameRelativeToCRLIssuer [1] RelativeDistinguishedName }
    /// ```
    private static func fullNameURIs(_ name: UnsafeMutablePointer<DIST_POINT_NAME>?) -> [String] {
        guard let name, name.pointee.type == 0, let names = name.pointee.name.fullname else { return [] }
        return elements(of: names, count: COpenSSL_sk_GENERAL_NAME_num, value: COpenSSL_sk_GENERAL_NAME_value)
            .compactMap { general in
                var type: Int32 = 0
                guard let value = GENERAL_NAME_get0_value(general, &type), type == GEN_URI else { return nil }
                let uri = value.assumingMemoryBound(to: ASN1_IA5STRING.self)
                let length = Int(ASN1_STRING_length(uri))
                guard length > 0, let bytes = ASN1_STRING_get0_data(uri) else { return nil }
                return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
            }
    }
}

extension DecodedExtension<[Int]> {
    /// The features a certificate's TLS Feature extension lists (RFC 7633 §4), in order:
    ///
    /// ```
    /// Features ::= SEQUENCE OF INTEGER
    /// ```
    static func tlsFeatures(_ decode: Decoder) -> Self {
        Self(decode, free: { TLS_FEATURE_free(OpaquePointer($0)) }) { features in
            let integers = elements(
                of: OpaquePointer(features), count: COpenSSL_sk_ASN1_INTEGER_num, value: COpenSSL_sk_ASN1_INTEGER_value)
            return integers.map { ASN1_INTEGER_get($0) }
        }
    }
}

/// The elements of an OpenSSL stack, in order, through its `sk_*_num` and `sk_*_value` forwarders.
private func elements<Element>(
    of stack: OpaquePointer, count: (OpaquePointer) -> Int32, value: (OpaquePointer, Int32) -> Element?
) -> [Element] {
    (0..<count(stack)).compactMap { value(stack, $0) }
}
