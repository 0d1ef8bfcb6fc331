import NIOCore

/// An incremental HTTP/1.x response parser for the load generator's hot path.
///
/// It reads only what a client needs to count and time responses: the status code, whether the
/// connection stays open, the body framing (`Content-Length`, `chunked`, or until close), the first
/// bytes of the body (to peek at the OCSP `responseStatus`) and, for sampled responses, the whole
/// body. Head bytes are scanned in place in the channel's buffer; they are copied only when a head
/// arrives split over several reads.
struct HTTPResponseParser {
    /// What `feed` found.
    enum Outcome {
        /// All readable bytes were consumed; the response is not complete yet.
        case needMore
        /// A whole response; bytes after it are left in the buffer.
        case complete(HTTPResponseSummary)
        /// The bytes are not an HTTP/1.x response.
        case failed(String)
    }

    private enum State {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    /// Largest head accepted.
    static let maximumHeadBytes = 64 * 1024

    private var state = State.head
    /// A head split over reads, accumulated.
    private var partialHead: ByteBuffer? = nil
    /// A chunk-size or trailer line split over reads.
    private var line: [UInt8] = []
    private var summary = HTTPResponseSummary()
    /// Collect the next response's body into ``HTTPResponseSummary/body``.
    var collectBody = false

    /// Consumes bytes from `buffer` until a response is complete or the buffer is empty.
    mutating func feed(_ buffer: inout ByteBuffer) -> Outcome {
        while buffer.readableBytes > 0 {
            switch state {
            case .head:
                if let failure = parseHead(&buffer) { return .failed(failure) }
                if case .head = state { return .needMore }
                if let done = completeIfBodyless() { return done }
            case .body(let remaining):
                let taken = takeBody(&buffer, upTo: remaining)
                if taken == remaining { return complete() }
                state = .body(remaining: remaining - taken)
            case .untilClose:
                _ = takeBody(&buffer, upTo: Int.max)
            case .chunkData(let remaining):
                let taken = takeBody(&buffer, upTo: remaining)
                state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
            case .chunkSize, .chunkDataEnd, .trailers:
                guard let text = takeLine(&buffer) else { return .needMore }
                switch state {
                case .chunkSize:
                    guard let size = Self.chunkSize(text) else { return .failed("bad chunk size line") }
                    state = size == 0 ? .trailers : .chunkData(remaining: size)
                case .chunkDataEnd:
                    guard text.isEmpty else { return .failed("chunk data not followed by CRLF") }
                    state = .chunkSize
                default:
                    if text.isEmpty { return complete() }  // end of trailers
                }
            }
        }
        return .needMore
    }

    /// The connection closed: completes a response whose body runs until close, else nil.
    mutating func finishAtClose() -> HTTPResponseSummary? {
        guard case .untilClose = state else { return nil }
        guard case .complete(let done) = complete() else { return nil }
        return done
    }

    // MARK: - Head

    /// Parses the head if all of it is there; returns a failure message or nil.
    private mutating func parseHead(_ buffer: inout ByteBuffer) -> String? {
        if var accumulated = partialHead {
            partialHead = nil
            accumulated.writeBuffer(&buffer)
            if let failure = parseHeadIn(&accumulated) { return failure }
            if case .head = state {
                partialHead = accumulated
            } else {
                // Whatever followed the head in the accumulated bytes goes back for the body.
                buffer = accumulated
            }
            return nil
        }
        let before = buffer.readableBytes
        if let failure = parseHeadIn(&buffer) { return failure }
        if case .head = state, buffer.readableBytes == before {
            partialHead = buffer
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
        return nil
    }

    /// Parses a head that is complete in `buffer`, moving past it; leaves `buffer` alone (and the
    /// state `.head`) when the blank line has not arrived yet.
    private mutating func parseHeadIn(_ buffer: inout ByteBuffer) -> String? {
        var result: Result<(length: Int, framing: Framing), HeadError> = .failure(.incomplete)
        buffer.withUnsafeReadableBytes { bytes in result = Self.parse(bytes, into: &summary) }
        switch result {
        case .failure(.incomplete):
            if buffer.readableBytes > Self.maximumHeadBytes { return "response head over 64 KiB" }
            return nil
        case .failure(.malformed(let why)):
            return why
        case .success(let head):
            buffer.moveReaderIndex(forwardBy: head.length)
            switch head.framing {
            case .length(let count): state = .body(remaining: count)
            case .chunked: state = .chunkSize
            case .close:
                state = .untilClose
                summary.keepAlive = false
            }
            if collectBody { summary.body = [] }
            return nil
        }
    }

    private enum Framing {
        case length(Int)
        case chunked, close
    }
    private enum HeadError: Error {
        case incomplete
        case malformed(String)
    }

    /// Status line and headers, or why not.
    private static func parse(
        _ bytes: UnsafeRawBufferPointer, into summary: inout HTTPResponseSummary
    ) -> Result<(length: Int, framing: Framing), HeadError> {
        let count = bytes.count
        guard let end = headEnd(bytes) else {
            // Fail fast on something that is not HTTP at all.
            let prefix = Array("HTTP/1.".utf8)
            for index in 0..<min(count, prefix.count) where bytes[index] != prefix[index] {
                return .failure(.malformed("response does not start with HTTP/1."))
            }
            return .failure(.incomplete)
        }
        // "HTTP/1.x SSS"
        guard end >= 12, bytes[0] == UInt8(ascii: "H"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
            bytes[6] == UInt8(ascii: "."), bytes[8] == UInt8(ascii: " ")
        else { return .failure(.malformed("bad status line")) }
        var status = 0
        for index in 9..<12 {
            let digit = Int(bytes[index]) - 48
            guard (0...9).contains(digit) else { return .failure(.malformed("bad status code")) }
            status = status * 10 + digit
        }
        let http11 = bytes[7] == UInt8(ascii: "1")
        var keepAlive = http11
        var contentLength: Int? = nil
        var chunked = false

        // Headers: lines between the status line and the blank line.
        var lineStart = 0
        while lineStart < end, bytes[lineStart] != 10 { lineStart += 1 }
        lineStart += 1
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end, bytes[lineEnd] != 10 { lineEnd += 1 }
            var valueEnd = lineEnd
            if valueEnd > lineStart, bytes[valueEnd - 1] == 13 { valueEnd -= 1 }
            if let colon = (lineStart..<valueEnd).first(where: { bytes[$0] == UInt8(ascii: ":") }) {
                var valueStart = colon + 1
                while valueStart < valueEnd, bytes[valueStart] == 32 || bytes[valueStart] == 9 { valueStart += 1 }
                while valueEnd > valueStart, bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9 { valueEnd -= 1 }
                let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
                let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
                if equalsIgnoringCase(name, "content-length") {
                    var length = 0
                    guard !value.isEmpty, value.count < 16 else { return .failure(.malformed("bad Content-Length")) }
                    for byte in value {
                        let digit = Int(byte) - 48
                        guard (0...9).contains(digit) else { return .failure(.malformed("bad Content-Length")) }
                        length = length * 10 + digit
                    }
                    contentLength = length
                } else if equalsIgnoringCase(name, "transfer-encoding") {
                    chunked = contains(value, "chunked")
                } else if equalsIgnoringCase(name, "connection") {
                    if contains(value, "close") { keepAlive = false }
                    if contains(value, "keep-alive") { keepAlive = true }
                }
            }
            lineStart = lineEnd + 1
        }
        summary.status = status
        summary.keepAlive = keepAlive
        let framing: Framing
        if (100..<200).contains(status) || status == 204 || status == 304 {
            framing = .length(0)
        } else if chunked {
            framing = .chunked
        } else if let contentLength {
            framing = .length(contentLength)
        } else {
            framing = .close
        }
        return .success((end, framing))
    }

    /// The offset just past the `\r\n\r\n` (or bare `\n\n`) ending the head, or nil.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            if bytes[index] == 10 {
                if index + 1 < count, bytes[index + 1] == 10 { return index + 2 }
                if index + 2 < count, bytes[index + 1] == 13, bytes[index + 2] == 10 { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count where bytes[index] | 0x20 != expected[index] { return false }
        return true
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        let needle = lowercase.utf8Start
        let length = lowercase.utf8CodeUnitCount
        guard bytes.count >= length else { return false }
        outer: for start in 0...(bytes.count - length) {
            for offset in 0..<length where bytes[start + offset] | 0x20 != needle[offset] { continue outer }
            return true
        }
        return false
    }

    // MARK: - Body

    /// Takes up to `limit` body bytes, remembering the first few (and all of them when collecting).
    private mutating func takeBody(_ buffer: inout ByteBuffer, upTo limit: Int) -> Int {
        let count = min(limit, buffer.readableBytes)
        if summary.bodyPrefixCount < HTTPResponseSummary.prefixCapacity || summary.body != nil {
            buffer.withUnsafeReadableBytes { bytes in
                var index = 0
                while summary.bodyPrefixCount < HTTPResponseSummary.prefixCapacity, index < count {
                    summary.appendPrefix(bytes[index])
                    index += 1
                }
                summary.body?.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
            }
        }
        summary.bodyLength += count
        buffer.moveReaderIndex(forwardBy: count)
        return count
    }

    /// A whole CRLF-terminated line (without it), or nil after stashing a partial one.
    private mutating func takeLine(_ buffer: inout ByteBuffer) -> [UInt8]? {
        while let byte = buffer.readInteger(as: UInt8.self) {
            if byte == 10 {
                if line.last == 13 { line.removeLast() }
                defer { line.removeAll(keepingCapacity: true) }
                return line
            }
            line.append(byte)
            if line.count > 4096 { return nil }
        }
        return nil
    }

    private static func chunkSize(_ line: [UInt8]) -> Int? {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case 48...57: value = Int(byte) - 48
            case 65...70: value = Int(byte) - 55
            case 97...102: value = Int(byte) - 87
            case UInt8(ascii: ";"), 32, 9: return digits > 0 ? size : nil
            default: return nil
            }
            digits += 1
            guard digits <= 15 else { return nil }
            size = size * 16 + value
        }
        return digits > 0 ? size : nil
    }

    // MARK: - Completion

    private mutating func completeIfBodyless() -> Outcome? {
        if case .body(remaining: 0) = state { return complete() }
        return nil
    }

    private mutating func complete() -> Outcome {
        let done = summary
        summary = HTTPResponseSummary()
        state = .head
        collectBody = false
        return .complete(done)
    }
}
