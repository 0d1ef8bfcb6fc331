public import Foundation
public import OCSPValues

/// A signed OCSP response kept in the store, ready to be served as is.
public struct CachedResponse: Hashable, Sendable {
    /// What the response says, so the refresher can tell `unknown` entries (dropped when due, not re-signed).
    public enum Kind: UInt8, Sendable {
        case good = 0, revoked = 1, unknown = 2
    }

    /// DER of the whole `OCSPResponse`.
    public var der: [UInt8]
    public var kind: Kind
    public var thisUpdate: Date
    public var nextUpdate: Date
    /// When the refresher should re-sign it (before nextUpdate, jittered).
    public var refreshAt: Date
    /// A strong HTTP entity tag, e.g. 64 bits of a hash of ``der`` (the signer computes it).
    public var etag: UInt64

    public init(der: [UInt8], kind: Kind, thisUpdate: Date, nextUpdate: Date, refreshAt: Date, etag: UInt64) {
        self.der = der
        self.kind = kind
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.refreshAt = refreshAt
        self.etag = etag
    }

    /// Seconds before its nextUpdate at which a response stops being served and is re-signed
    /// instead, so that it does not expire on its way to a client: a quarter of its validity, at
    /// most 2 s. (The refresher re-signs long before; this covers a refresher that fell behind.)
    public static func servingMargin(thisUpdate: Int64, nextUpdate: Int64) -> Int64 {
        min(2, max(0, nextUpdate - thisUpdate) / 4)
    }

    /// Whether a response is served at `now` (whole seconds, rounded down): more than its
    /// ``servingMargin(thisUpdate:nextUpdate:)`` remains until its nextUpdate.
    public static func isServable(thisUpdate: Int64, nextUpdate: Int64, now: Int64) -> Bool {
        nextUpdate - now > servingMargin(thisUpdate: thisUpdate, nextUpdate: nextUpdate)
    }

    /// Whether this response is served at `now`; see ``isServable(thisUpdate:nextUpdate:now:)``.
    public func isServable(at now: Date) -> Bool {
        Self.isServable(thisUpdate: Self.seconds(thisUpdate), nextUpdate: Self.seconds(nextUpdate), now: Self.seconds(now))
    }

    /// The ETag header value, quoted.
    public var etagHeader: String { String(decoding: Self.etagHeaderBytes(etag), as: UTF8.self) }

    // Encoding, version 2 (what is written): a fixed part and then the DER.
    //   version(1) kind(1) thisUpdate(8) nextUpdate(8) refreshAt(8) etag(8)   integers big-endian, seconds
    //   ETag value (18 bytes, quoted hex) NUL, Last-Modified (29) NUL, Expires (29) NUL
    //   der
    // The HTTP header values are made once here, when the response is stored, so serving it only
    // copies bytes (NUL-terminated, so libmicrohttpd can take them straight from the map).
    // Version 1 (still read) had the first 34 bytes and then the DER.
    static let numbersCount = 34
    static let etagOffset = numbersCount
    static let lastModifiedOffset = etagOffset + 19
    static let expiresOffset = lastModifiedOffset + HTTPDate.byteCount + 1
    static let headerCount = expiresOffset + HTTPDate.byteCount + 1

    var encoded: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerCount + der.count)
        out.append(2)
        out.append(kind.rawValue)
        for value in [Self.seconds(thisUpdate), Self.seconds(nextUpdate), Self.seconds(refreshAt), Int64(bitPattern: etag)] {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        out += Self.etagHeaderBytes(etag) + [0]
        out += HTTPDate.bytes(Self.seconds(thisUpdate)) + [0]
        out += HTTPDate.bytes(Self.seconds(nextUpdate)) + [0]
        out += der
        return out
    }

    init(encoded bytes: UnsafeRawBufferPointer) throws {
        let derOffset: Int
        switch bytes.first {
        case 1: derOffset = Self.numbersCount
        case 2: derOffset = Self.headerCount
        default: throw StoreError(.corrupt, "cached response has an unknown format")
        }
        guard bytes.count > derOffset, let kind = Kind(rawValue: bytes[1]) else {
            throw StoreError(.corrupt, "cached response is truncated")
        }
        self.kind = kind
        thisUpdate = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 2)))
        nextUpdate = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 10)))
        refreshAt = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 18)))
        etag = UInt64(bitPattern: Self.int64(bytes, at: 26))
        der = Array(bytes[derOffset...])
    }

    /// Only the refresh time, without copying the DER.
    static func refreshAt(encoded bytes: UnsafeRawBufferPointer) -> Date? {
        guard bytes.count > numbersCount, bytes[0] == 1 || bytes[0] == 2 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(int64(bytes, at: 18)))
    }

    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    static func int64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }

    /// `"` + 16 upper-case hex digits + `"`.
    static func etagHeaderBytes(_ etag: UInt64) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for shift in stride(from: 60, through: 0, by: -4) { out.append(digits[Int(etag >> UInt64(shift) & 0xF)]) }
        out.append(UInt8(ascii: "\""))
        return out
    }
}

/// A cached response as it lies in the store's memory map, for serving without copying it first.
///
/// > Warning: Valid only inside the ``RevocationStore/Reader/read(_:)`` closure that produced it;
/// > the bytes belong to that read transaction's snapshot.
public struct CachedResponseView {
    private let bytes: UnsafeRawBufferPointer

    /// Nil unless `bytes` is a version-2 record (version 1 has no prepared HTTP values).
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > CachedResponse.headerCount, bytes[0] == 2, bytes[1] <= 2 else { return nil }
        self.bytes = bytes
    }

    public var kind: CachedResponse.Kind { CachedResponse.Kind(rawValue: bytes[1]) ?? .unknown }
    /// thisUpdate and nextUpdate, in seconds since 1970.
    public var thisUpdate: Int64 { CachedResponse.int64(bytes, at: 2) }
    public var nextUpdate: Int64 { CachedResponse.int64(bytes, at: 10) }
    /// DER of the `OCSPResponse`.
    public var der: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[CachedResponse.headerCount...]) }
    /// The `ETag`, `Last-Modified` and `Expires` header values, NUL-terminated.
    public var etagHeader: UnsafePointer<CChar> { cString(at: CachedResponse.etagOffset) }
    public var lastModified: UnsafePointer<CChar> { cString(at: CachedResponse.lastModifiedOffset) }
    public var expires: UnsafePointer<CChar> { cString(at: CachedResponse.expiresOffset) }

    private func cString(at offset: Int) -> UnsafePointer<CChar> {
        (bytes.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
    }
}

extension CertStatus {
    /// The cache kind of a response with this status.
    public var cacheKind: CachedResponse.Kind {
        switch self {
        case .good: .good
        case .revoked: .revoked
        case .unknown: .unknown
        }
    }
}
