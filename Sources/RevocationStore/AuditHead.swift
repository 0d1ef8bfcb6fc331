internal import OCSPValues

/// The head of the chain: the last record's sequence number and hash. A copy kept elsewhere
/// (`ocspctl audit head`) proves later that the log up to it was not rewritten.
public struct AuditHead: Sendable, Hashable, CustomStringConvertible {
    public var sequence: UInt64
    public var hash: [UInt8]

    public init(sequence: UInt64, hash: [UInt8]) {
        self.sequence = sequence
        self.hash = hash
    }

    /// `SEQ:HEX`, as `ocspctl audit head` prints and `audit verify --head` takes.
    public var description: String { "\(sequence):\(hash.hexString)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let sequence = UInt64(parts[0]), let hash = [UInt8](hexString: String(parts[1])), hash.count == 32
        else { return nil }
        self.init(sequence: sequence, hash: hash)
    }

    static let empty = AuditHead(sequence: 0, hash: AuditRecord.genesis)

    var encoded: [UInt8] { withUnsafeBytes(of: sequence.bigEndian) { Array($0) } + hash }

    init?(encoded bytes: [UInt8]) {
        guard bytes.count == 40 else { return nil }
        self.init(
            sequence: bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }, hash: Array(bytes[8...]))
    }
}
