/// CRLReason ::= ENUMERATED (RFC 5280 §5.3.1).
public enum RevocationReason: Int, Sendable, CaseIterable, Codable {
    case unspecified = 0
    case keyCompromise = 1
    case cACompromise = 2
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5
    case certificateHold = 6
    case removeFromCRL = 8
    case privilegeWithdrawn = 9
    case aACompromise = 10

    /// RFC 5280's name, e.g. `keyCompromise`.
    public var name: String { "\(self)" }

    /// Parses RFC 5280's name (case-insensitive).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = match
    }

    /// The names an operator may give when revoking (removeFromCRL is only for delta CRLs).
    public static var operatorNames: [String] { allCases.filter { $0 != .removeFromCRL }.map(\.name) }
}
