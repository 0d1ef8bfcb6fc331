public import Fetching
internal import Foundation
internal import Locking

/// ``HTTPFetching`` without sockets: each request is answered by the first rule whose URL prefix
/// (and method, when the rule names one) matches, and every request is recorded, with the
/// limits it was given, for the test to read.
public final class ScriptedFetcher: HTTPFetching {
    public indirect enum Behaviour: Sendable {
        /// This response.
        case answer(FetchResponse)
        /// This failure, at once (a refused connection, a truncated body, one too large, …).
        case fail(FetchError)
        /// No answer until the request's own timeout, then ``FetchError/Code/timedOut``: a
        /// black-holed responder, in real time.
        case hang
        /// ``FetchError/Code/timedOut`` at once, as if the request's timeout had passed: a
        /// black-holed responder, for tests that look at the limits given, not at the time.
        case timeOut
        /// The request passed on to another fetcher (a real one, for a server the test runs).
        case forward(any HTTPFetching)
    }

    public struct Rule: Sendable {
        let prefix: String
        let method: FetchRequest.Method?
        let behaviour: Behaviour

        /// Requests to URLs starting with `prefix` get `behaviour`.
        public static func rule(_ prefix: String, _ behaviour: Behaviour) -> Rule {
            Rule(prefix: prefix, method: nil, behaviour: behaviour)
        }

        /// Requests to URLs starting with `prefix`, by `method`, get `behaviour`.
        public static func rule(_ prefix: String, _ method: FetchRequest.Method, _ behaviour: Behaviour) -> Rule {
            Rule(prefix: prefix, method: method, behaviour: behaviour)
        }
    }

    private let rules: [Rule]
    private let recorded = LockedValue<[FetchRequest]>([])

    public init(_ rules: [Rule]) { self.rules = rules }

    /// Every request so far, in order.
    public var requests: [FetchRequest] { recorded.withLock { $0 } }

    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        recorded.withLock { $0.append(request) }
        guard let rule = rules.first(where: { request.url.hasPrefix($0.prefix) && ($0.method ?? request.method) == request.method })
        else { throw FetchError(.unresolved, "\(request.url): no such host in the script") }
        switch rule.behaviour {
        case .answer(let response):
            guard response.body.count <= request.maximumBytes else {
                throw FetchError(.tooLarge, "\(request.url): the answer is larger than \(request.maximumBytes) bytes")
            }
            return response
        case .fail(let error):
            throw error
        case .hang:
            do {
                try await Task.sleep(for: request.timeout)
            } catch {
                throw FetchError(.cancelled, "\(request.url): cancelled")
            }
            throw FetchError(.timedOut, "\(request.url): no answer within \(request.timeout)")
        case .timeOut:
            throw FetchError(.timedOut, "\(request.url): no answer within \(request.timeout)")
        case .forward(let fetcher):
            return try await fetcher.fetch(request)
        }
    }
}
