internal import Foundation
internal import OCSPValues

/// Answers by CertID, each until its expiry, at most `capacity` of them (the one expiring first
/// goes when a new one needs room).
actor AnswerCache {
    private var entries: [CertID: (answer: Answer, expires: Date)] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func answer(for certID: CertID, at now: Date) -> Answer? {
        guard let entry = entries[certID] else { return nil }
        guard entry.expires > now else {
            entries[certID] = nil
            return nil
        }
        return entry.answer
    }

    /// Stores `answer` unless one is there already (a fetch that finished first).
    func storeIfAbsent(_ certID: CertID, _ answer: Answer, at now: Date, until expires: Date) {
        if let entry = entries[certID], entry.expires > now { return }
        store(certID, answer, until: expires)
    }

    func store(_ certID: CertID, _ answer: Answer, until expires: Date) {
        if entries[certID] == nil, entries.count >= capacity {
            let now = Date()
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= capacity, let first = entries.min(by: { $0.value.expires < $1.value.expires }) {
                entries[first.key] = nil
            }
        }
        entries[certID] = (answer, expires)
    }
}
