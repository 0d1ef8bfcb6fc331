import ArgumentParser
import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore

struct ListCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List certificates and their status, streamed from the store a page at a time.",
        discussion: """
            One tab-separated line per certificate: serial (hex), status (good, revoked or hold), revocation \
            time, reason, invalidity date ("-" when absent), issuer (its id's first 16 hex digits, as in CRL URLs).
            --json prints JSON Lines instead: one object per certificate with issuer (id, hex), serial, status, \
            and when known revocationTime, reason, invalidityDate, notAfter, changedAt (RFC 3339, UTC).
            Certificates are in key order: by issuer id, then serial.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Only the certificates of this CA (PEM or DER).")
    var issuer: String?

    @Option(help: "Only certificates in this status: good, revoked (any reason but certificateHold) or hold.")
    var status: String?

    @Option(help: "Only certificates whose status changed at or after this time, e.g. 2026-01-02T03:04:05Z.")
    var since: String?

    @Flag(help: "Print JSON Lines: one object per certificate.")
    var json = false

    /// Certificates read per read transaction: each page is its own short snapshot, so a long
    /// listing (or a slow reader of its output) never keeps LMDB from reusing pages.
    static let pageSize = 10_000

    func run() throws {
        // Checked here rather than in validate(): ArgumentParser follows a ValidationError with
        // the usage text, and a bad value is worth one line (exit status 2 all the same).
        let wanted = try status.map { name in
            guard let wanted = ListedStatus(rawValue: name) else {
                throw CLIError(
                    "--status \(name): use one of \(ListedStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                    .usage)
            }
            return wanted
        }
        let since = try since.map { text in
            do {
                // Stored times are whole seconds (rounded down): compare at that resolution.
                let time = try parseTime(text, option: "--since")
                return Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
            } catch let error as CLIError {
                throw CLIError(error.description, .usage)
            }
        }
        let store = try options.open()
        let issuerID = try issuer.map { try store.issuer(certificate: Certificate.load(path: $0)).id }

        var out = OutputBuffer()
        var issuerText: (id: IssuerID, text: String)? = nil
        var cursor: [UInt8]? = nil
        repeat {
            let page = try store.certificatesPage(issuer: issuerID, after: cursor, limit: Self.pageSize)
            for (issuer, serial, record) in page.items {
                let listed = ListedStatus(record)
                if let wanted, listed != wanted { continue }
                if let since {
                    guard let changedAt = record.changedAt, changedAt >= since else { continue }
                }
                if issuerText?.id != issuer {
                    issuerText = (issuer, json ? issuer.description : issuer.slug)
                }
                if json {
                    writeJSON(&out, issuer: issuerText!.text, serial: serial, status: listed, record: record)
                } else {
                    writeText(&out, issuer: issuerText!.text, serial: serial, status: listed, record: record)
                }
                try out.flushIfFull()
            }
            try out.flush()
            store.releaseMappedPages()
            cursor = page.next
        } while cursor != nil
    }

    /// `SERIAL\tSTATUS\tTIME\tREASON\tINVALIDITY\tISSUER`, "-" for what is absent.
    private func writeText(
        _ out: inout OutputBuffer, issuer: String, serial: SerialNumber, status: ListedStatus, record: CertificateRecord
    ) {
        out.append(serial.hex)
        out.append(UInt8(ascii: "\t"))
        out.append(status.rawValue)
        if case .revoked(let time, let reason, let invalidityDate) = record.status {
            out.append(UInt8(ascii: "\t"))
            out.append(date: time)
            out.append("\t" + (reason.map(Self.reasonName) ?? "-") + "\t")
            if let invalidityDate { out.append(date: invalidityDate) } else { out.append("-") }
        } else {
            out.append("\t-\t-\t-")
        }
        out.append("\t" + issuer + "\n")
    }

    /// One JSON object. Every value is hex, a date or a fixed name, so nothing needs escaping.
    private func writeJSON(
        _ out: inout OutputBuffer, issuer: String, serial: SerialNumber, status: ListedStatus, record: CertificateRecord
    ) {
        out.append("{\"issuer\":\"")
        out.append(issuer)
        out.append("\",\"serial\":\"")
        out.append(serial.hex)
        out.append("\",\"status\":\"")
        out.append(status.rawValue)
        out.append(UInt8(ascii: "\""))
        // `key` includes its quotes and colon: `,"notAfter":`.
        func date(_ key: String, _ value: Date?) {
            guard let value else { return }
            out.append(key)
            out.append(UInt8(ascii: "\""))
            out.append(date: value)
            out.append(UInt8(ascii: "\""))
        }
        if case .revoked(let time, let reason, let invalidityDate) = record.status {
            date(",\"revocationTime\":", time)
            if let reason {
                out.append(",\"reason\":\"")
                out.append(Self.reasonName(reason))
                out.append(UInt8(ascii: "\""))
            }
            date(",\"invalidityDate\":", invalidityDate)
        }
        date(",\"notAfter\":", record.notAfter)
        date(",\"changedAt\":", record.changedAt)
        out.append("}\n")
    }

    /// RFC 5280 reason names, made once (``RevocationReason/name`` interpolates the case).
    private static let reasonNames = Dictionary(uniqueKeysWithValues: RevocationReason.allCases.map { ($0, $0.name) })
    private static func reasonName(_ reason: RevocationReason) -> String { reasonNames[reason] ?? reason.name }
}

/// The status an operator sees: a hold is not a revocation.
enum ListedStatus: String, CaseIterable {
    case good, revoked, hold

    init(_ record: CertificateRecord) {
        switch record.status {
        case .good: self = .good
        case .revoked: self = record.isOnHold ? .hold : .revoked
        }
    }
}
