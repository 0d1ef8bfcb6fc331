// The code of Sources/OCSPValues/Docs.docc/WorkingWithTheValues.md, block for block (check_snippets.py keeps
// the two the same). Compiled, never run.
import OCSPValues

func parseSerial(_ text: String) -> SerialNumber? {
    do {
        let serial = try SerialNumber(hex: text)  // "0x1a:2b:3c", "1A2B3C", …
        print(serial.hex, serial.bytes)  // 1A2B3C [26, 43, 60]
        return serial
    } catch let error as OCSPError where error.code == .invalidSerial {
        print(error.message)
        return nil
    } catch {
        return nil
    }
}

func certIDs(issuer: IssuerHashes, serials: [SerialNumber]) -> [CertID] {
    serials.map { CertID(issuer: issuer, serialNumber: $0) }
}

func describe(_ status: CertStatus) -> String {
    switch status {
    case .good:
        return "good"
    case .revoked(let time, let reason):
        return "revoked at \(time) (\(reason?.name ?? "no reason given"))"
    case .unknown:
        return "unknown to the responder"
    }
}

func reason(from text: String) -> RevocationReason? {
    RevocationReason(name: text)  // "keyCompromise", "superseded", …
}
