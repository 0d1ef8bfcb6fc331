internal import Foundation
internal import OCSPValues

/// A remembered answer: a status, or the failure of every source.
struct Answer: Sendable {
    let status: CertStatus?
    let nextUpdate: Date?
    let error: String?
}
