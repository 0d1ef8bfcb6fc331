// libFuzzer target: ocspd's configuration file and values. Built by Fuzz/run.sh.
// The input is a YAML document: its keys are checked against the known ones (Yams parses it), and
// every scalar of a known key is given to that key's parser, which must accept it or throw.
import Foundation
import Operations

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? OCSPDConfiguration.keys(ofYAML: text, path: "fuzz.yaml")
    // Each line "key: value" also goes straight to the key's parser.
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let key = line[..<colon].trimmingCharacters(in: .whitespaces)
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard let setting = OCSPDConfiguration.settingsByKey[key] else { continue }
        var configuration = OCSPDConfiguration()
        _ = try? setting.apply(&configuration, value)
    }
    return 0
}
