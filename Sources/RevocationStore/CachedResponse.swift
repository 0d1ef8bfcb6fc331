public import Foundation
public import OCSPCore

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
    /// A strong HTTP entity tag: 64 bits of SHA-256 of ``der``.
    public var etag: UInt64

    public init(der: [UInt8], kind: Kind, thisUpdate: Date, nextUpdate: Date, refreshAt: Date) {
        self.der = der
        self.kind = kind
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.refreshAt = refreshAt
        self.etag = sha256(der).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The ETag header value, quoted.
    public var etagHeader: String { "\"" + withUnsafeBytes(of: etag.bigEndian) { Array($0) }.hexString + "\"" }

    // Encoding: version(1) kind(1) thisUpdate(8) nextUpdate(8) refreshAt(8) etag(8) der(…), big-endian seconds.
    static let headerCount = 34

    var encoded: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerCount + der.count)
        out.append(1)
        out.append(kind.rawValue)
        for value in [Self.seconds(thisUpdate), Self.seconds(nextUpdate), Self.seconds(refreshAt), Int64(bitPattern: etag)] {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        out += der
        return out
    }

    init(encoded bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > Self.headerCount, bytes[0] == 1, let kind = Kind(rawValue: bytes[1]) else {
            throw StoreError(.corrupt, "cached response has an unknown format")
        }
        self.kind = kind
        thisUpdate = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 2)))
        nextUpdate = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 10)))
        refreshAt = Date(timeIntervalSince1970: TimeInterval(Self.int64(bytes, at: 18)))
        etag = UInt64(bitPattern: Self.int64(bytes, at: 26))
        der = Array(bytes[Self.headerCount...])
    }

    /// Only the refresh time, without copying the DER.
    static func refreshAt(encoded bytes: UnsafeRawBufferPointer) -> Date? {
        guard bytes.count > headerCount, bytes[0] == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(int64(bytes, at: 18)))
    }

    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    static func int64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
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
