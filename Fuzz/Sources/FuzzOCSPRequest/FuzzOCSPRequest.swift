// libFuzzer target: OCSP request decoding, both readers. Built by Fuzz/run.sh.
import OCSPCore
import OCSPValues

/// Decodes `bytes` with OpenSSL's decoder and with the fast path's reader, and traps if the fast
/// reader accepts what OpenSSL rejects or reads another CertID (the fast path would then answer
/// for another certificate than the full path).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCSPRequest(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let full = try? OCSPRequest(derEncoded: Array(bytes))
    if let simple = SimpleOCSPRequest(der: bytes) {
        guard let full, full.certIDs.count == 1, !full.hasNonce, let certID = full.certIDs[0] else {
            fatalError("the simple reader accepted a request OpenSSL does not read as one plain CertID")
        }
        precondition(certID.hashAlgorithm == simple.hashAlgorithm, "hash algorithms differ")
        precondition(certID.issuerNameHash.elementsEqual(bytes[simple.issuerNameHash]), "name hashes differ")
        precondition(certID.issuerKeyHash.elementsEqual(bytes[simple.issuerKeyHash]), "key hashes differ")
        precondition(certID.serialNumber == SerialNumber(bytes: bytes[simple.serialNumber]), "serials differ")
    }
    return 0
}
