import OCSPCore
import OCSPValues

/// What a correct answer to one request says, from the store: checked on sampled responses.
struct Expectation: Sendable {
    /// The CertID asked about.
    let certID: CertID
    /// The status the store holds for it (`unknown` when the serial is not in the store).
    let status: CertStatus
    /// The issuer the response's signer must be authorised by.
    let issuer: Certificate
}
