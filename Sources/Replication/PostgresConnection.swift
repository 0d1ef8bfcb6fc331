internal import CPostgreSQL
internal import Foundation
internal import Locking
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// One libpq connection, used by one call at a time.
///
/// Every call runs on a thread of its own, never on a cooperative thread:
/// - connecting is libpq's blocking `PQconnectdbParams`, so its multi-host list,
///   `target_session_attrs` and per-host `connect_timeout` work exactly as PostgreSQL documents
///   (its non-blocking connect leaves the per-host timeout to the caller, with no way to move on
///   to the next host); a cancelled task stops waiting at once and the thread closes what it gets;
/// - statements and notifications are non-blocking libpq (`PQsendQueryParams`,
///   `PQconsumeInput`), waited for with `poll(2)` on `PQsocket` in slices of 100 ms, so a
///   deadline or a cancelled task ends the wait within a slice. A connection whose call was cut
///   short is closed: what it was doing is unknown.
///
/// @unchecked Sendable: `raw` is touched only by the thread running a call, with `busy` held,
/// and is finished once, with `busy` held.
final class PostgresConnection: @unchecked Sendable {
    private var raw: OpaquePointer?
    private let busy = NSLock()
    /// The host and port this connection reached (of a multi-host list, the one that answered).
    let server: String

    private init(_ raw: OpaquePointer) {
        self.raw = raw
        server = "\(String(cString: PQhost(raw))):\(String(cString: PQport(raw)))"
    }

    deinit {
        if let raw { PQfinish(raw) }
    }

    /// A statement's parameter: text (PostgreSQL reads it as the type the statement gives), bytes
    /// (sent in binary, for `bytea`), or NULL.
    enum Value: Sendable {
        case text(String)
        case bytes([UInt8])
        case null
    }

    /// An array element's type, as PostgreSQL's binary array format names it (its type OID).
    struct ElementType: Sendable {
        let oid: Int32
        static let bytea = ElementType(oid: 17)
        static let int8 = ElementType(oid: 20)
        static let text = ElementType(oid: 25)
    }

    /// A failed call, in one line.
    struct Failure: Error, Sendable {
        enum Kind: Sendable {
            /// The server refused the statement (its SQLSTATE in `state`).
            case server
            /// The connection is gone, or was never made.
            case connection
            /// The deadline passed.
            case timedOut
            /// The waiting task was cancelled.
            case cancelled
        }

        let kind: Kind
        let message: String
        /// The server's SQLSTATE, for ``Kind/server``.
        var state: String = ""
    }

    /// Connects with libpq's `PQconnectdbParams`: `defaults` first, then `conninfo` (a URL or
    /// `key=value` string), which overrides them. Waits at most `timeout` (libpq's own
    /// `connect_timeout` applies per host).
    static func connect(conninfo: String, defaults: [(String, String)], timeout: Duration) async throws -> PostgresConnection {
        let outcome = ConnectOutcome()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection, any Error>) in
                outcome.install(continuation)
                let thread = Thread {
                    outcome.finish(Result { try connectBlocking(conninfo: conninfo, defaults: defaults) })
                }
                thread.name = "pq-connect"
                thread.start()
                let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                    outcome.finish(.failure(Failure(kind: .timedOut, message: "no connection within \(timeout)")))
                }
            }
        } onCancel: {
            outcome.finish(.failure(Failure(kind: .cancelled, message: "cancelled")))
        }
    }

    private static func connectBlocking(conninfo: String, defaults: [(String, String)]) throws -> PostgresConnection {
        let pairs = defaults + [("dbname", conninfo)]
        let raw: OpaquePointer? = withCStrings(pairs.map(\.0)) { keywords in
            withCStrings(pairs.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let raw else { throw Failure(kind: .connection, message: "libpq could not allocate a connection") }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = Self.oneLine(PQerrorMessage(raw))
            PQfinish(raw)
            throw Failure(kind: .connection, message: message)
        }
        // libpq prints the server's notices and warnings to stderr by default ("WARNING:
        // terminating connection due to immediate shutdown command" before a failover's error):
        // the error that follows says it in one line, so they are dropped.
        _ = PQsetNoticeProcessor(raw, { _, _ in }, nil)
        guard PQsetnonblocking(raw, 1) == 0 else {
            let message = Self.oneLine(PQerrorMessage(raw))
            PQfinish(raw)
            throw Failure(kind: .connection, message: message)
        }
        return PostgresConnection(raw)
    }

    /// Closes the connection (waiting for a call in progress to end, within a poll slice when
    /// its task was cancelled).
    func close() async {
        await Self.offload { _ in
            self.busy.withLock {
                if let raw = self.raw { PQfinish(raw) }
                self.raw = nil
            }
        }
    }

    /// Runs one statement (`$1`, `$2`… for `parameters`) and returns its rows, each column in
    /// PostgreSQL's binary format (nil for NULL).
    /// - Throws: ``Failure`` when the server refuses it, the connection fails, `timeout` passes
    ///   or the task is cancelled (the connection is then closed).
    func execute(_ sql: String, _ parameters: [Value] = [], timeout: Duration) async throws -> [[[UInt8]?]] {
        let deadline = ContinuousClock.now + timeout
        return try await Self.offload { cancelled in
            try self.withRaw { raw in try Self.execute(raw, sql, parameters, deadline: deadline, cancelled: cancelled) }
        }
    }

    /// Waits up to `timeout` for notifications on channels this connection `LISTEN`s to.
    /// - Returns: how many arrived (0: the time passed without one).
    func notifications(within timeout: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        return try await Self.offload { cancelled in
            try self.withRaw { raw in
                while true {
                    guard PQconsumeInput(raw) == 1 else { throw Self.lost(raw) }
                    var count = 0
                    while let notification = PQnotifies(raw) {
                        PQfreemem(notification)
                        count += 1
                    }
                    if count > 0 { return count }
                    guard try Self.wait(raw, for: Int16(POLLIN), deadline: deadline, cancelled: cancelled, expiring: false) else {
                        return 0
                    }
                }
            }
        }
    }

    /// Runs `body` with the connection, `busy` held. A failure other than the server's refusal
    /// (lost, timed out, cancelled) leaves the connection in an unknown state: it is closed.
    private func withRaw<Result>(_ body: (OpaquePointer) throws -> Result) throws -> Result {
        try busy.withLock {
            guard let raw else { throw Failure(kind: .connection, message: "the connection is closed") }
            do {
                return try body(raw)
            } catch let failure as Failure where failure.kind != .server {
                PQfinish(raw)
                self.raw = nil
                throw failure
            }
        }
    }

    // MARK: - On the call's own thread

    private static func execute(
        _ raw: OpaquePointer, _ sql: String, _ parameters: [Value], deadline: ContinuousClock.Instant, cancelled: () -> Bool
    ) throws -> [[[UInt8]?]] {
        // The parameters' bytes in one buffer (text NUL-terminated, as libpq reads text
        // parameters), then pointers into it; libpq copies them while sending.
        var storage: [UInt8] = []
        var spans: [(offset: Int, length: Int)?] = []
        for parameter in parameters {
            switch parameter {
            case .text(let text):
                spans.append((storage.count, text.utf8.count))
                storage += text.utf8
                storage.append(0)
            case .bytes(let bytes):
                spans.append((storage.count, bytes.count))
                storage += bytes
            case .null:
                spans.append(nil)
            }
        }
        let lengths = spans.map { Int32($0?.length ?? 0) }
        let formats = parameters.map { parameter -> Int32 in
            if case .bytes = parameter { return 1 }
            return 0
        }
        let sent: Int32 = storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            let values: [UnsafePointer<CChar>?] = spans.map { span in
                span.map { (base + $0.offset).assumingMemoryBound(to: CChar.self) }
            }
            return PQsendQueryParams(raw, sql, Int32(parameters.count), nil, values, lengths, formats, 1)
        }
        guard sent == 1 else { throw lost(raw) }
        // Send all of it.
        while true {
            let flushed = PQflush(raw)
            if flushed == 0 { break }
            guard flushed > 0 else { throw lost(raw) }
            _ = try wait(raw, for: Int16(POLLIN | POLLOUT), deadline: deadline, cancelled: cancelled, expiring: true)
            guard PQconsumeInput(raw) == 1 else { throw lost(raw) }
        }
        // Read every result (one per statement; the last with rows wins), then the end.
        var rows: [[[UInt8]?]] = []
        var refusal: Failure? = nil
        while true {
            while PQisBusy(raw) == 1 {
                _ = try wait(raw, for: Int16(POLLIN), deadline: deadline, cancelled: cancelled, expiring: true)
                guard PQconsumeInput(raw) == 1 else { throw lost(raw) }
            }
            guard let result = PQgetResult(raw) else { break }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_TUPLES_OK {
                rows = Self.rows(result)
            } else if status != PGRES_COMMAND_OK && refusal == nil {
                let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
                let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                refusal = Failure(kind: status == PGRES_FATAL_ERROR ? .server : .connection,
                                  message: primary ?? oneLine(PQresultErrorMessage(result)), state: state)
            }
        }
        if let refusal { throw refusal }
        // Notifications that came with the answer stay queued for `notifications(within:)`.
        return rows
    }

    private static func rows(_ result: OpaquePointer) -> [[[UInt8]?]] {
        let count = PQntuples(result)
        let columns = PQnfields(result)
        var rows: [[[UInt8]?]] = []
        rows.reserveCapacity(Int(count))
        for row in 0..<count {
            var values: [[UInt8]?] = []
            values.reserveCapacity(Int(columns))
            for column in 0..<columns {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(nil)
                    continue
                }
                let length = Int(PQgetlength(result, row, column))
                let bytes = PQgetvalue(result, row, column)!
                values.append(bytes.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) })
            }
            rows.append(values)
        }
        return rows
    }

    /// Polls the connection's socket for `events` in slices of at most 100 ms.
    /// - Returns: true when it is ready; false when the deadline passed and `expiring` is false.
    /// - Throws: ``Failure`` when the task is cancelled, or the deadline passes and `expiring`.
    private static func wait(
        _ raw: OpaquePointer, for events: Int16, deadline: ContinuousClock.Instant, cancelled: () -> Bool, expiring: Bool
    ) throws -> Bool {
        let socket = PQsocket(raw)
        guard socket >= 0 else { throw lost(raw) }
        while true {
            if cancelled() { throw Failure(kind: .cancelled, message: "cancelled") }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                if expiring { throw Failure(kind: .timedOut, message: "no answer from \(String(cString: PQhost(raw))) within the deadline") }
                return false
            }
            let milliseconds = min(100, max(1, Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
            var descriptor = pollfd(fd: socket, events: events, revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR {
                throw Failure(kind: .connection, message: "poll: \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func lost(_ raw: OpaquePointer) -> Failure {
        Failure(kind: .connection, message: oneLine(PQerrorMessage(raw)))
    }

    /// libpq's messages end with a newline and may span lines (one per host tried): one line.
    static func oneLine(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        let lines = String(cString: message).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let text = lines.filter { !$0.isEmpty }.joined(separator: "; ")
        return text.isEmpty ? "unknown error" : text
    }

    /// Runs `body` on a new thread; `body`'s argument says whether the waiting task was
    /// cancelled.
    private static func offload<Result: Sendable>(_ body: @escaping @Sendable (_ cancelled: () -> Bool) throws -> Result) async throws
        -> Result
    {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                let thread = Thread {
                    continuation.resume(with: Swift.Result { try body { flag.isSet } })
                }
                thread.name = "pq-call"
                thread.start()
            }
        } onCancel: {
            flag.set()
        }
    }

    private static func offload(_ body: @escaping @Sendable (_ cancelled: () -> Bool) -> Void) async {
        _ = try? await offload { (cancelled: () -> Bool) throws -> Bool in
            body(cancelled)
            return true
        }
    }
}

/// Set once when a task is cancelled; read by the thread doing its work.
private final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// The first of a connect's outcomes (made, failed, timed out, cancelled) resumes the waiting
/// task; a connection made after that is closed.
private final class ConnectOutcome: Sendable {
    private let state = LockedValue<(continuation: CheckedContinuation<PostgresConnection, any Error>?, done: Bool)>((nil, false))

    func install(_ continuation: CheckedContinuation<PostgresConnection, any Error>) {
        let early = state.withLock { state -> Bool in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        if early { continuation.resume(throwing: PostgresConnection.Failure(kind: .cancelled, message: "cancelled")) }
    }

    func finish(_ result: Result<PostgresConnection, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            defer {
                state.done = true
                state.continuation = nil
            }
            return state.done ? nil : state.continuation
        }
        if let continuation {
            continuation.resume(with: result)
        }
        // A connection nobody waits for any more goes when `result` does (deinit finishes it).
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`.
private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> Result) -> Result {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}

extension PostgresConnection.Value {
    /// A one-dimensional array in PostgreSQL's binary format (`array_recv`): dimensions 1, a
    /// null flag, the element type, the length and lower bound 1, then each element as its
    /// length (-1 for NULL) and bytes. Sent for `$n::T[]`, whose element type must be `type`.
    static func array(_ elements: [[UInt8]?], of type: PostgresConnection.ElementType) -> Self {
        var out: [UInt8] = []
        out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + ($1?.count ?? 0) })
        func append(_ value: Int32) {
            withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
        }
        append(1)
        append(elements.contains { $0 == nil } ? 1 : 0)
        append(type.oid)
        append(Int32(elements.count))
        append(1)
        for element in elements {
            guard let element else {
                append(-1)
                continue
            }
            append(Int32(element.count))
            out += element
        }
        return .bytes(out)
    }

    /// A BIGINT[] in binary format.
    static func array(_ values: [Int64]) -> Self {
        array(values.map { value in withUnsafeBytes(of: value.bigEndian) { Array($0) } }, of: .int8)
    }
}
