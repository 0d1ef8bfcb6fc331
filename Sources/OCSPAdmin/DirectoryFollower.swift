package import Foundation
import OCSPCore
package import OCSPValues
package import RevocationStore

/// Follows a directory of issued certificates (what step-ca hooks, cert-manager or a CA script
/// write): `ocspctl cert add --dir DIR --follow`.
///
/// Each time the directory may have changed, its certificate files (``CertificateDirectory``) are
/// listed, and each one new or changed since it was last settled is read: a certificate is added as
/// good under the issuer in the store that issued it, its response signed in the same transaction
/// (with the signing ``makeSigning`` gives for that issuer, or none when it gives none), so a
/// running ocspd on the same store answers `good` from the commit on. Adding is idempotent: a
/// certificate the store already holds is left as it is. A file that does not parse yet (written in
/// several steps) is read again at the next change or poll, and reported once when it has stayed
/// the same and bad for ``settleTime``; a certificate no issuer in the store issued is reported
/// once and skipped. Files removed change nothing.
///
/// The directory is watched as ``IndexFollower`` watches its index's: a ``FileWatch``.
///
/// > Warning: Not thread-safe: one task runs ``run(report:)`` (or calls ``apply(now:)``).
package struct DirectoryFollower {
    /// A certificate file added to the store, or found there already.
    package struct Addition: Sendable, Hashable {
        /// The file's name in the directory.
        package var file: String
        package var issuer: IssuerID
        package var serial: SerialNumber
        /// The file's modification time when it was read.
        package var modified: Date?
        /// When the certificate was committed.
        package var applied: Date

        /// From the file's modification to the commit (zero when the clock says otherwise).
        package var lag: TimeInterval { modified.map { max(0, applied.timeIntervalSince($0)) } ?? 0 }
    }

    /// A file skipped, and why.
    package struct Skip: Sendable, Hashable {
        package var file: String
        package var reason: String
    }

    /// What one application of the directory did.
    package struct ChangeSet: Sendable, Hashable {
        /// Certificates new to the store.
        package var added: [Addition] = []
        /// Certificates read from files new or changed here that the store already held.
        package var present: [Addition] = []
        /// Files skipped this time and not reported before: not a certificate (still, at a second
        /// look), or one no issuer in the store issued.
        package var skipped: [Skip] = []
        /// Files that did not parse this time and are read again at the next change or poll.
        package var waiting: [String] = []

        /// Whether there is anything to say.
        package var isEmpty: Bool { added.isEmpty && present.isEmpty && skipped.isEmpty }

        package init() {}
    }

    /// What ``run(report:)`` tells its caller.
    package typealias Event = FollowerEvent<ChangeSet>

    package let store: RevocationStore
    /// The directory's path.
    package let directory: String
    /// The signing for an issuer's new certificates, made once per issuer and application (a
    /// signing closure may fix its `now` when made); nil leaves their responses to ocspd.
    package var makeSigning: (IssuerID) -> ResponseSigning?
    /// How often the directory is listed again, whatever inotify says.
    package var pollInterval: Duration = .seconds(1)
    /// How often the inotify descriptor is read (it never blocks a thread of the pool).
    package var tick: Duration = .milliseconds(50)

    /// The files applied or reported, as they were then: read again only when they change.
    private var settled: [String: FileWatch.Fingerprint] = [:]
    /// How long a file that does not parse must stay as it is before it is reported (and left
    /// alone until it changes): a writer's pause between two steps is shorter.
    package var settleTime: TimeInterval = 1
    /// The files that did not parse, as they were then, and since when.
    private var unparsed: [String: (fingerprint: FileWatch.Fingerprint, since: Date)] = [:]

    package init(
        store: RevocationStore, directory: String, makeSigning: @escaping (IssuerID) -> ResponseSigning? = { _ in nil }
    ) {
        self.store = store
        self.directory = directory
        self.makeSigning = makeSigning
    }

    /// Lists the directory and applies its files new or changed since they were settled.
    /// - Parameter now: the time recorded as the certificates' addition time, and compared with
    ///   when a file that does not parse was first seen so (``settleTime``).
    /// - Throws: when the directory cannot be listed or the store refuses a write (the files
    ///   not yet applied are tried again at the next application).
    package mutating func apply(now: Date = Date()) throws -> ChangeSet {
        let names = try CertificateDirectory.files(in: directory)
        var set = ChangeSet()
        var issuers: CertificateDirectory?  // read once something is to be filed
        var signings: [IssuerID: ResponseSigning?] = [:]
        let present = Set(names)
        settled = settled.filter { present.contains($0.key) }  // removed files: forgotten, nothing else
        unparsed = unparsed.filter { present.contains($0.key) }
        for name in names {
            let path = directory + "/" + name
            guard let fingerprint = FileWatch.Fingerprint(path: path), settled[name] != fingerprint else { continue }
            let certificate: Certificate
            do {
                certificate = try Certificate.load(path: path)
            } catch {
                if let seen = unparsed[name], seen.fingerprint == fingerprint,
                    now.timeIntervalSince(seen.since) >= settleTime
                {  // the same bytes, bad for settleTime: say so once
                    set.skipped.append(Skip(file: name, reason: "\(error)"))
                    settled[name] = fingerprint
                    unparsed[name] = nil
                } else {
                    if unparsed[name]?.fingerprint != fingerprint { unparsed[name] = (fingerprint, now) }
                    set.waiting.append(name)
                }
                continue
            }
            unparsed[name] = nil
            if issuers == nil { issuers = try CertificateDirectory(store: store) }
            let issuer: IssuerRecord
            do {
                issuer = try issuers!.issuer(of: certificate, file: path)
            } catch {
                set.skipped.append(Skip(file: name, reason: "\(error)"))
                settled[name] = fingerprint
                continue
            }
            if signings[issuer.id] == nil { signings[issuer.id] = makeSigning(issuer.id) }
            let added = try store.addCertificate(
                issuer: issuer.id, serial: certificate.serialNumber, notAfter: certificate.notAfter,
                sign: signings[issuer.id] ?? nil, now: now)
            let addition = Addition(
                file: name, issuer: issuer.id, serial: certificate.serialNumber, modified: fingerprint.modified,
                applied: Date())
            if added { set.added.append(addition) } else { set.present.append(addition) }
            settled[name] = fingerprint
        }
        return set
    }

    /// Applies the directory, then again whenever it may have changed, until the task is
    /// cancelled. Failures are reported and retried at the next change or poll, never thrown.
    /// - Parameter report: called with each application and failure, on the calling task.
    package mutating func run(report: (Event) -> Void) async {
        var watch = FileWatch(directory: directory)
        (watch.pollInterval, watch.tick) = (pollInterval, tick)
        await watch.run(names: CertificateDirectory.isCertificateFile, unwatchable: { report(.pollingOnly($0)) }) {
            notified, pollDue in
            // A poll lists the directory and compares each file's fingerprint with the settled one.
            guard notified || pollDue else { return }
            do {
                report(.applied(try apply()))
            } catch {
                report(.failed("\(error)"))
            }
        }
    }
}
