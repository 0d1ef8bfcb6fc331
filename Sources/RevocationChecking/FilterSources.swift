internal import Foundation
internal import OCSPCore
internal import OCSPValues

/// The revocation filters a policy names (`filter:`), each a file path or an http(s) URL of a
/// `.mlbf` with its signed metadata next to it (`.mlbf.meta`), verified when loaded and kept
/// until the earlier of their nextUpdate and `cache_ttl` (a file: also until it changes). A
/// source that fails is not tried again for `failure_cache_ttl`.
actor FilterSources {
    /// What one source gave when last loaded.
    private struct Loaded {
        var filter: RevocationFilter?
        var error: String?
        var expires: Date
        /// A file's modification time when it was read.
        var modified: Date?
    }

    /// What the filters say about one certificate.
    struct Result: Sendable {
        var answer: RevocationFilter.Answer?
        var filter: RevocationFilter?
        var location: String?
        /// Why no filter answered (every source that failed, or none is for the issuer).
        var error: String?
    }

    private let locations: [String]
    private let cacheTTL: TimeInterval
    private let failureTTL: TimeInterval
    private var loaded: [String: Loaded] = [:]

    init(locations: [String], cacheTTL: TimeInterval, failureTTL: TimeInterval) {
        self.locations = locations
        self.cacheTTL = cacheTTL
        self.failureTTL = failureTTL
    }

    /// The answer of the first filter signed by `issuer`'s key, or why there is none.
    /// - Parameter download: the body of a 200 from a URL, nil for a 404 (the checker's client).
    func answer(
        leaf: Certificate, issuer: Certificate, at now: Date, download: (String) async throws -> [UInt8]?
    ) async -> Result {
        let issuerKey = issuer.subjectPublicKeyInfoSHA256.hexString.lowercased()
        var errors: [String] = []
        for location in locations {
            let entry = await load(location, at: now, download: download)
            guard let filter = entry.filter else {
                errors.append("\(location): \(entry.error ?? "no filter")")
                continue
            }
            // The metadata was verified with the key it names: the same key signed this chain's
            // issuer's certificate only if the hashes match.
            guard filter.metadata.issuerSPKISHA256 == issuerKey else { continue }
            return Result(answer: filter.answer(for: leaf, at: now), filter: filter, location: location, error: nil)
        }
        errors.append("no filter is signed by the key of \(issuer.subject)")
        return Result(answer: nil, filter: nil, location: nil, error: errors.joined(separator: "; "))
    }

    private func load(_ location: String, at now: Date, download: (String) async throws -> [UInt8]?) async -> Loaded {
        let isURL = location.hasPrefix("http://") || location.hasPrefix("https://")
        let modified = isURL ? nil : (try? FileManager.default.attributesOfItem(atPath: location)[.modificationDate]) as? Date
        if let entry = loaded[location], entry.expires > now, entry.modified == modified { return entry }
        var entry = Loaded(filter: nil, error: nil, expires: now.addingTimeInterval(failureTTL), modified: modified)
        do {
            let (mlbf, meta): ([UInt8], [UInt8])
            if isURL {
                guard let filterBytes = try await download(location) else { throw CheckError("\(location) answered HTTP 404") }
                guard let metaBytes = try await download(location + ".meta") else {
                    throw CheckError("\(location).meta answered HTTP 404")
                }
                (mlbf, meta) = (filterBytes, metaBytes)
            } else {
                guard let filterData = FileManager.default.contents(atPath: location),
                    let metaData = FileManager.default.contents(atPath: location + ".meta")
                else { throw CheckError("cannot read the filter or its signed metadata (\(location).meta)") }
                (mlbf, meta) = ([UInt8](filterData), [UInt8](metaData))
            }
            let filter = try RevocationFilter(mlbf: mlbf, signedMetadata: meta, issuer: nil)
            entry.filter = filter
            // A stale filter answers "not covered"; it is read again no sooner than a failure would be.
            entry.expires = max(min(filter.metadata.nextUpdate, now.addingTimeInterval(cacheTTL)), now.addingTimeInterval(failureTTL))
        } catch let error as OCSPError {
            entry.error = error.message
        } catch {
            entry.error = "\(error)"
        }
        loaded[location] = entry
        return entry
    }
}
