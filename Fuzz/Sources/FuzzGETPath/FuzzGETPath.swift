// libFuzzer target: GET path decoding. Built by Fuzz/run.sh.
import Foundation
import Responder

/// Decodes `bytes` as a GET path into a buffer of exactly the size it asks for (ASan catches a
/// write past it), and checks the decoding against Foundation's base64 when the path is plain
/// standard base64.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGETPath(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = UnsafeRawBufferPointer(start: start, count: count)
    let capacity = GETRequestPath.decodedCapacity(count)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
    defer { output.deallocate() }
    let slash: [UInt8] = [UInt8(ascii: "/")]
    let written = slash.withUnsafeBytes { GETRequestPath.decode(path, prefix: $0, into: output) }
    if let written { precondition(written <= capacity, "wrote past the capacity it asked for") }
    // Plain standard base64 after the slash: Foundation must agree (padding optional here).
    let text = path.dropFirst()
    if path.first == UInt8(ascii: "/"), !text.isEmpty,
        text.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2F }),
        text.count % 4 == 0, let expected = Data(base64Encoded: Data(text))
    {
        precondition(written.map { Array(output.prefix($0)) } == [UInt8](expected), "differs from Foundation's base64")
    }
    return 0
}
