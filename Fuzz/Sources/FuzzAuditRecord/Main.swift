// The executable's entry point (SwiftPM names it FuzzAuditRecord_main): libFuzzer's driver on this target.
import FuzzDriver

@_cdecl("FuzzAuditRecord_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzAuditRecord)
}
