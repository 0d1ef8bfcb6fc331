import NIOCore

/// The channel end of a ``LoadConnection``: writes prebuilt requests, parses responses in place
/// and hands each complete one to the connection. One per TCP connection; the ``LoadConnection``
/// outlives it across reconnects.
final class LoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: LoadConnection
    private var parser = HTTPResponseParser()
    private var context: ChannelHandlerContext? = nil
    /// Set once this side decided to close: later bytes and errors are not the server's fault.
    private var closing = false

    init(connection: LoadConnection) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connection.connected(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var buffer = unwrapInboundIn(data)
        connection.worker.statistics.bytesReceived += buffer.readableBytes
        while buffer.readableBytes > 0 {
            switch parser.feed(&buffer) {
            case .needMore:
                return
            case .complete(let response):
                if buffer.readableBytes > 0 {
                    fail("http-parse", "\(buffer.readableBytes) bytes after a complete response, none asked for")
                    return
                }
                connection.received(response, at: MonotonicClock.now())
            case .failed(let why):
                fail("http-parse", why)
                return
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closing, let response = parser.finishAtClose() {
            connection.received(response, at: MonotonicClock.now())
        }
        connection.closed(byUs: closing)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        fail(ConnectionErrorKind.io(error), "\(error)")
    }

    /// Writes one request; `collectBody` keeps the whole answer body for checking.
    @inline(__always)
    func send(_ request: ByteBuffer, collectBody: Bool) {
        parser.collectBody = collectBody
        context?.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    /// Closes the connection (an expected close: no error is counted for it).
    func close() {
        guard !closing else { return }
        closing = true
        context?.close(promise: nil)
    }

    /// Counts a protocol or I/O error against the connection, then closes it.
    private func fail(_ kind: String, _ message: String) {
        connection.failed(kind, message)
        close()
    }
}
