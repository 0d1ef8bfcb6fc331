// libFuzzer target: the OpenSSL index.txt parser behind `ocspctl import`. Built by Fuzz/run.sh.
import Foundation
import OCSPAdmin

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIndexTxt(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let contents = Array(UnsafeRawBufferPointer(start: start, count: count))
    // Parsing may fail (with a message naming the line); it must not crash.
    _ = try? OpenSSLIndex.parse(contents: contents, now: Date(timeIntervalSince1970: 1_800_000_000))
    return 0
}
