internal import Foundation
internal import OCSPValues

/// What the network said about one certificate (shared by concurrent checks).
struct NetworkAnswer: Sendable {
    let status: CertStatus?
    let nextUpdate: Date?
    let source: RevocationDecision.Source
    let attempts: [RevocationDecision.Attempt]
}
