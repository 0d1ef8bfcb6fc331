// libFuzzer target: the audit record decoder behind `ocspctl audit replay` and `audit verify`
// (a replayed file is untrusted input). Built by Fuzz/run.sh.
import RevocationStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuditRecord(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    // Decoding may fail (with a message); it must not crash. What decodes re-encodes to a
    // record that decodes to itself: the encoding is stable, as the hash chain needs.
    guard let record = try? AuditRecord(encoded: bytes) else { return 0 }
    let encoded = record.encoded
    guard let again = try? AuditRecord(encoded: encoded), again.encoded == encoded else {
        fatalError("an audit record does not survive its own encoding: \(String(decoding: encoded, as: UTF8.self))")
    }
    return 0
}
