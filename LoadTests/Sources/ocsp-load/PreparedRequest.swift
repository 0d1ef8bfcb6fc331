import NIOCore

/// One OCSP request, ready to go on the wire: the GET and POST forms are built once, and sending
/// one is handing the shared `ByteBuffer` to the channel (no copy, no formatting).
struct PreparedRequest: Sendable {
    /// The DER `OCSPRequest`.
    let der: [UInt8]
    /// `GET {path}/{url-encoded base64} HTTP/1.1` with its headers.
    let get: ByteBuffer
    /// `POST {path} HTTP/1.1` with `Content-Type: application/ocsp-request` and the DER body.
    let post: ByteBuffer
    /// What the answer should say, when the request came with a store to check against.
    let expectation: Expectation?
    /// Whether the request carries a nonce (then the response must echo it).
    let hasNonce: Bool
    /// For messages: issuer and serial, or the request's position in its file.
    let label: String

    /// Builds both wire forms of `der` for `target`.
    init(der: [UInt8], target: TargetURL, expectation: Expectation?, hasNonce: Bool, label: String) {
        self.der = der
        self.expectation = expectation
        self.hasNonce = hasNonce
        self.label = label
        let allocator = ByteBufferAllocator()
        let getHead =
            "GET \(target.getTarget(der)) HTTP/1.1\r\nHost: \(target.authority)\r\n\r\n"
        var get = allocator.buffer(capacity: getHead.utf8.count)
        get.writeString(getHead)
        self.get = get
        let postHead =
            "POST \(target.path) HTTP/1.1\r\nHost: \(target.authority)\r\n"
            + "Content-Type: application/ocsp-request\r\nContent-Length: \(der.count)\r\n\r\n"
        var post = allocator.buffer(capacity: postHead.utf8.count + der.count)
        post.writeString(postHead)
        post.writeBytes(der)
        self.post = post
    }
}
