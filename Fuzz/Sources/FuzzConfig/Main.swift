// The executable's entry point (SwiftPM names it FuzzConfig_main): libFuzzer's driver on this target.
import FuzzDriver

@_cdecl("FuzzConfig_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzConfig)
}
