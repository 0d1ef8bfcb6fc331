internal import COpenSSL
internal import Locking
public import Foundation
internal import OCSPValues

/// A Bloom filter cascade (CRLite) in the MLBF format of Mozilla's `filtercascade` package,
/// version 2: salted SHA-256 hashing, little-endian headers, little-endian bit order.
///
/// A cascade built from an *included* and an *excluded* set answers every key of either set
/// exactly: layer 1 holds the included keys, layer 2 the excluded keys layer 1 wrongly matches,
/// layer 3 the included keys layer 2 wrongly matches, and so on until a layer has no false
/// positives. A key outside both sets gets an arbitrary answer.
///
/// File layout (all integers little-endian), as `filtercascade.FilterCascade.tofile` writes it:
/// `version: u16 = 2`, `inverted: u8`, `saltLength: u8`, `salt`, then per layer
/// `hashAlgorithm: u8 = 2 (SHA-256)`, `bits: u32`, `hashCount: u32`, `level: u8`, and
/// `ceil(bits / 8)` bytes of bits (bit `i` is bit `i % 8` of byte `i / 8`). Hash `n` of a key at a
/// level is the first 4 bytes of `SHA-256(salt ‖ u32(n) ‖ u8(level) ‖ key)`, little-endian,
/// modulo the layer's bits.
public struct FilterCascade: Sendable {
    /// One Bloom filter of the cascade.
    public struct Layer: Sendable, Equatable {
        /// Its length in bits.
        public let bitCount: Int
        public let hashCount: Int
        /// Its level (1 for the first layer), part of every hash.
        public let level: UInt8
        /// `ceil(bitCount / 8)` bytes.
        var bits: [UInt8]
    }

    public let salt: [UInt8]
    /// Whether the answers are negated (the included set was the larger and was swapped).
    public let inverted: Bool
    public let layers: [Layer]

    /// The total bits of all layers.
    public var bitCount: Int { layers.reduce(0) { $0 + $1.bitCount } }

    /// Builds the cascade that includes every key of `include` and excludes every key of
    /// `exclude`, with the false-positive rates `filtercascade`'s `set_crlite_error_rates` picks
    /// (layer 1: |include| / (√2 |exclude|), then 1/2), its growth factor 1.1 and minimum length of
    /// 1000 elements. The larger set is swapped in as `exclude` (``inverted``). Layers are hashed
    /// on all processors.
    /// - Throws: `OCSPError.Code.unsupported` if a key is in both sets (no cascade ends).
    public static func build(include: FilterKeys, exclude: FilterKeys, salt: [UInt8]) throws -> FilterCascade {
        precondition(salt.count <= 255, "a filter's salt is at most 255 bytes")
        let inverted = include.count > exclude.count
        var (included, excluded) = inverted ? (exclude, include) : (include, exclude)
        let firstRate = included.count == 0 ? 0.5 : Double(included.count) / (2.0.squareRoot() * Double(excluded.count))
        var layers: [Layer] = []
        let hasher = LayerHasher(salt: salt)
        repeat {
            let level = layers.count + 1
            guard level <= 64 else {
                throw OCSPError(.unsupported, "the filter cascade does not end after 64 layers: a key is both included and excluded")
            }
            let rate = level == 1 ? firstRate : 0.5
            var layer = Layer(elements: max(Int(Double(included.count) * 1.1), 1000), falsePositiveRate: rate, level: UInt8(level))
            hasher.add(included, to: &layer)
            let falsePositives = hasher.matches(of: excluded, in: layer)
            layers.append(layer)
            (included, excluded) = (falsePositives, included)
        } while included.count > 0
        return FilterCascade(salt: salt, inverted: inverted, layers: layers)
    }

    init(salt: [UInt8], inverted: Bool, layers: [Layer]) {
        self.salt = salt
        self.inverted = inverted
        self.layers = layers
    }

    /// Whether `key` is in the included set (for a key of either set the cascade was built from;
    /// arbitrary for any other key).
    public func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        let hasher = LayerHasher(salt: salt)
        for (index, layer) in layers.enumerated() {
            let even = (index + 1) % 2 == 0
            if hasher.contains(key, in: layer) {
                if index == layers.count - 1 { return !even != inverted }
            } else {
                return even != inverted
            }
        }
        return inverted  // no layers: nothing included
    }

    /// Whether `key` is in the included set (see ``contains(_:)-(UnsafeRawBufferPointer)``).
    public func contains(_ key: [UInt8]) -> Bool { key.withUnsafeBytes { contains($0) } }

    // MARK: The MLBF format

    /// The MLBF bytes (version 2).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + salt.count + layers.reduce(0) { $0 + 10 + $1.bits.count })
        Self.append(UInt16(2), to: &out)
        out += [inverted ? 1 : 0, UInt8(salt.count)] + salt
        for layer in layers {
            out.append(2)  // SHA-256
            Self.append(UInt32(layer.bitCount), to: &out)
            Self.append(UInt32(layer.hashCount), to: &out)
            out.append(layer.level)
            out += layer.bits
        }
        return out
    }

    /// Reads MLBF bytes (version 2, SHA-256).
    /// - Throws: `OCSPError.Code.unsupported` for another version or hash (MurmurHash3), a
    ///   truncated file or trailing bytes, with one line saying which.
    public init(encoded bytes: [UInt8]) throws {
        func fail(_ why: String) -> OCSPError { OCSPError(.unsupported, "not a revocation filter (MLBF version 2): \(why)") }
        var cursor = 0
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count <= bytes.count - cursor else { throw fail("it ends early, at byte \(bytes.count)") }
            defer { cursor += count }
            return bytes[cursor..<cursor + count]
        }
        func integer(_ count: Int) throws -> Int {
            try take(count).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        let version = try integer(2)
        guard version == 2 else { throw fail("version \(version)") }
        inverted = try integer(1) != 0
        salt = Array(try take(integer(1)))
        var layers: [Layer] = []
        while cursor < bytes.count {
            let algorithm = try integer(1)
            guard algorithm == 2 else { throw fail("layer \(layers.count + 1) hashes with algorithm \(algorithm), not SHA-256 (2)") }
            let bitCount = try integer(4)
            let hashCount = try integer(4)
            let level = try integer(1)
            guard bitCount > 0, (1...64).contains(hashCount) else {
                throw fail("layer \(layers.count + 1) has \(bitCount) bits and \(hashCount) hashes")
            }
            layers.append(
                Layer(bitCount: bitCount, hashCount: hashCount, level: UInt8(level), bits: Array(try take((bitCount + 7) / 8))))
        }
        guard !layers.isEmpty else { throw fail("it has no layers") }
        self.layers = layers
    }

    private static func append<Integer: FixedWidthInteger>(_ value: Integer, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}

extension FilterCascade.Layer {
    /// An empty layer sized as `filtercascade`'s `Bloomer.filter_with_characteristics` sizes it:
    /// ⌈log2(1/rate)⌉ hashes and 1.44 · elements · log2(1/rate) bits, rounded up to whole bytes.
    init(elements: Int, falsePositiveRate rate: Double, level: UInt8) {
        let bitsPerElement = log2(1 / rate)
        hashCount = max(1, Int(bitsPerElement.rounded(.up)))
        let minimum = max(1, Int((1.44 * Double(elements) * bitsPerElement).rounded(.up)))
        bitCount = 8 * ((minimum + 7) / 8)
        self.level = level
        bits = [UInt8](repeating: 0, count: bitCount / 8)
    }
}

/// A set of byte-string keys that share a prefix (a filter's keys: the issuer's hash and a
/// serial), held in one buffer: a million keys are two allocations, not a million.
public struct FilterKeys: Sendable {
    /// The bytes every key starts with.
    public let prefix: [UInt8]
    private var storage: [UInt8] = []
    /// Where each key's own bytes end in ``storage``.
    private var ends: [Int32] = []

    public init(prefix: [UInt8]) { self.prefix = prefix }

    public var count: Int { ends.count }

    /// Adds the key `prefix ‖ suffix`.
    public mutating func append(suffix: UnsafeRawBufferPointer) {
        storage.append(contentsOf: suffix)
        ends.append(Int32(storage.count))
    }

    /// Adds the key `prefix ‖ suffix`.
    public mutating func append(suffix: [UInt8]) { suffix.withUnsafeBytes { append(suffix: $0) } }

    /// Calls `body` with the whole key at `index` (the prefix and its own bytes).
    func withKey<Result>(_ index: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let start = index == 0 ? 0 : Int(ends[index - 1])
        let end = Int(ends[index])
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix.count + end - start) { buffer in
            _ = buffer.initialize(fromContentsOf: prefix)
            storage.withUnsafeBufferPointer { stored in
                _ = UnsafeMutableBufferPointer(rebasing: buffer[prefix.count...])
                    .initialize(fromContentsOf: UnsafeBufferPointer(rebasing: stored[start..<end]))
            }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The keys at `indices`, in that order.
    func subset(_ indices: [Int]) -> FilterKeys {
        var keys = FilterKeys(prefix: prefix)
        storage.withUnsafeBytes { stored in
            for index in indices {
                let start = index == 0 ? 0 : Int(ends[index - 1])
                keys.append(suffix: UnsafeRawBufferPointer(rebasing: stored[start..<Int(ends[index])]))
            }
        }
        return keys
    }
}

/// Computes a cascade's hashes: `SHA-256(salt ‖ u32le(n) ‖ u8(level) ‖ key)`, first four bytes
/// little-endian, through OpenSSL (one digest context per call site, reused for every hash).
private struct LayerHasher {
    let salt: [UInt8]

    /// Sets the layer's bits for every key of `keys`.
    func add(_ keys: FilterKeys, to layer: inout FilterCascade.Layer) {
        let (count, hashes, level) = (layer.bitCount, layer.hashCount, layer.level)
        layer.bits.withUnsafeMutableBufferPointer { bits in
            withDigestContext { context in
                for index in 0..<keys.count {
                    keys.withKey(index) { key in
                        for number in 0..<hashes {
                            let bit = hash(context, number: number, level: level, key: key) % count
                            bits[bit >> 3] |= 1 << UInt8(bit & 7)
                        }
                    }
                }
            }
        }
    }

    /// Whether every bit of `key` is set in the layer.
    func contains(_ key: UnsafeRawBufferPointer, in layer: FilterCascade.Layer) -> Bool {
        withDigestContext { context in contains(context, key, in: layer) }
    }

    private func contains(_ context: OpaquePointer, _ key: UnsafeRawBufferPointer, in layer: FilterCascade.Layer) -> Bool {
        layer.bits.withUnsafeBufferPointer { bits in
            for number in 0..<layer.hashCount {
                let bit = hash(context, number: number, level: layer.level, key: key) % layer.bitCount
                if bits[bit >> 3] & (1 << UInt8(bit & 7)) == 0 { return false }
            }
            return true
        }
    }

    /// The keys of `keys` the layer matches, in order; the keys are split over the processors.
    func matches(of keys: FilterKeys, in layer: FilterCascade.Layer) -> FilterKeys {
        let chunkCount = keys.count < 4096 ? 1 : ProcessInfo.processInfo.activeProcessorCount * 4
        let chunkSize = (keys.count + chunkCount - 1) / max(chunkCount, 1)
        let found = LockedValue([[Int]](repeating: [], count: chunkCount))
        DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
            let range = chunk * chunkSize..<min(keys.count, (chunk + 1) * chunkSize)
            var matched: [Int] = []
            withDigestContext { context in
                for index in range where keys.withKey(index, { contains(context, $0, in: layer) }) {
                    matched.append(index)
                }
            }
            found.withLock { $0[chunk] = matched }
        }
        return keys.subset(found.withLock { $0.flatMap { $0 } })
    }

    private func withDigestContext<Result>(_ body: (OpaquePointer) -> Result) -> Result {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL cannot allocate a digest context") }
        defer { EVP_MD_CTX_free(context) }
        return body(context)
    }

    private func hash(_ context: OpaquePointer, number: Int, level: UInt8, key: UnsafeRawBufferPointer) -> Int {
        // u32le(number) ‖ u8(level)
        let header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (
            UInt8(truncatingIfNeeded: number), UInt8(truncatingIfNeeded: number >> 8), UInt8(truncatingIfNeeded: number >> 16),
            UInt8(truncatingIfNeeded: number >> 24), level
        )
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var length: UInt32 = 0
        EVP_DigestInit_ex2(context, Digests.sha256, nil)
        salt.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        withUnsafeBytes(of: header) { _ = EVP_DigestUpdate(context, $0.baseAddress, 5) }
        EVP_DigestUpdate(context, key.baseAddress, key.count)
        withUnsafeMutableBytes(of: &digest) { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return Int(withUnsafeBytes(of: digest) { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
    }
}
