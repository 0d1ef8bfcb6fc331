internal import COpenSSL
internal import Foundation
internal import OCSPValues

/// Runs an OpenSSL `i2d_*` function once, letting OpenSSL size and allocate the buffer (asking
/// for the size first would make OpenSSL walk the whole structure one more time), and returns the DER.
func encodeDER(_ what: String, _ i2d: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) throws -> [UInt8] {
    var buffer: UnsafeMutablePointer<UInt8>? = nil
    let length = i2d(&buffer)
    guard length > 0, let buffer else { throw OCSPError.openSSL(.encodeFailed, "could not encode \(what)") }
    defer { COpenSSL_free(buffer) }
    return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
}

/// Runs an OpenSSL `d2i_*` function over `bytes`, requiring that it consumes all of them.
func decodeDER(
    _ bytes: [UInt8],
    _ d2i: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?
) -> OpaquePointer? {
    bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
        guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        var cursor: UnsafePointer<UInt8>? = base
        guard let object = d2i(&cursor, buffer.count) else { return nil }
        return object
    }
}

/// Reads everything written to a memory BIO.
func withMemoryBIO(_ write: (OpaquePointer) -> Int32) throws -> [UInt8] {
    guard let bio = BIO_new(BIO_s_mem()) else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
    defer { BIO_free(bio) }
    guard write(bio) == 1 else { throw OCSPError.openSSL(.encodeFailed, "could not write PEM") }
    var data: UnsafePointer<CChar>? = nil
    let count = COpenSSL_BIO_get_mem_data(bio, &data)
    guard let data, count > 0 else { return [] }
    return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
}

/// Calls `body` with a read-only memory BIO over `bytes`.
func withReadBIO<R>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> R) throws -> R {
    try bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            throw OCSPError.openSSL(.io, "out of memory")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// Converts an OpenSSL `ASN1_TIME` to a `Date`.
func date(from time: UnsafePointer<ASN1_TIME>?) -> Date? {
    guard let time else { return nil }
    var parts = tm()
    guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
    return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
}

/// A new `GeneralizedTime` for `date`, owned by the caller (free with `ASN1_GENERALIZEDTIME_free`).
func makeGeneralizedTime(_ date: Date) throws -> UnsafeMutablePointer<ASN1_GENERALIZEDTIME> {
    guard let time = ASN1_GENERALIZEDTIME_set(nil, time_t(date.timeIntervalSince1970.rounded(.down))) else {
        throw OCSPError.openSSL(.encodeFailed, "could not encode time \(date)")
    }
    return time
}

/// SHA-256 of `bytes`.
package func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    _ = bytes.withUnsafeBytes { raw in
        EVP_Digest(raw.baseAddress, raw.count, &digest, &length, Digests.sha256, nil)
    }
    return Array(digest.prefix(Int(length)))
}

/// Reads a whole file, with an `OCSPError` that names it.
func readFile(_ path: String, what: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        let exists = FileManager.default.fileExists(atPath: path)
        throw OCSPError(.io, exists ? "cannot read \(what) \(path): permission denied" : "\(what) \(path) does not exist")
    }
    return [UInt8](data)
}
