internal import COpenSSL
internal import OCSPValues

extension SerialNumber {
    /// Reads an `ASN1_INTEGER` (its magnitude; the sign of a non-conforming negative serial is dropped).
    init(asn1 integer: UnsafePointer<ASN1_INTEGER>) {
        let length = Int(ASN1_STRING_length(integer))
        if let data = ASN1_STRING_get0_data(integer), length > 0 {
            self.init(bytes: UnsafeRawBufferPointer(start: data, count: length))
        } else {
            self.init(bytes: [0])
        }
    }

    /// A new `ASN1_INTEGER`, owned by the caller.
    func makeASN1Integer() throws -> UnsafeMutablePointer<ASN1_INTEGER> {
        let bignum = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let bignum else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        defer { BN_free(bignum) }
        guard let integer = BN_to_ASN1_INTEGER(bignum, nil) else {
            throw OCSPError.openSSL(.encodeFailed, "could not encode serial \(hex)")
        }
        return integer
    }

    /// Overwrites an existing `ASN1_INTEGER` (a CertID's or CRL entry's, reused across many
    /// signatures) with this serial. OpenSSL keeps the magnitude and the sign apart, so the bytes
    /// are set as they are. Returns false if OpenSSL could not grow its buffer.
    func write(into integer: UnsafeMutablePointer<ASN1_INTEGER>) -> Bool {
        integer.pointee.type = V_ASN1_INTEGER
        return bytes.withUnsafeBytes { ASN1_STRING_set(integer, $0.baseAddress, Int32($0.count)) } == 1
    }
}
