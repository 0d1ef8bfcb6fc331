/// Names of OCSPResponseStatus values (RFC 6960 §4.2.1) for error kinds.
enum OCSPStatusName {
    static func name(_ value: Int) -> String {
        switch value {
        case 0: "successful"
        case 1: "malformedRequest"
        case 2: "internalError"
        case 3: "tryLater"
        case 5: "sigRequired"
        case 6: "unauthorized"
        default: "status\(value)"
        }
    }
}
