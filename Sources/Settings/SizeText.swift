internal import Foundation

/// The one size grammar of every configuration: a whole number of bytes, or one followed by `k`
/// (or `K`), `M` or `G`, powers of 1024. `65536`, `512k`, `64M` and `1G` are sizes.
package enum SizeText {
    package static let examples = "65536, 512k, 64M or 1G"

    /// The bytes `text` names, or nil when it names none (or more than `Int.max`).
    package static func parse(_ text: String) -> Int? {
        let units: [Character: Int] = ["k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let (digits, unit) = units[last].map { (String(trimmed.dropLast()), $0) } ?? (trimmed, 1)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let number = Int(digits)
        else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }
}
