import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP listener (SwiftNIO) for `GET /metrics` (Prometheus text) and `GET /healthz`.
/// Anything else gets 404; a method other than GET or HEAD gets 405. Request bodies are not read.
struct MetricsServer {
    let host: String
    let port: Int
    let exposition: @Sendable () -> [UInt8]

    /// Parses `host:port` (`[::1]:9406` for IPv6); nil when it is not one.
    static func address(_ listen: String) -> (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port), colon > listen.startIndex
        else { return nil }
        return (String(listen[..<colon]).trimmingCharacters(in: ["[", "]"]), port)
    }

    /// Binds and returns the channel (close it to stop), and the port bound (for port 0).
    func start() async throws -> (any Channel, Int) {
        let exposition = self.exposition
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    // A connection idle for 30 s is closed: a scraper that never finishes a
                    // request does not hold a socket for ever.
                    channel.pipeline.addHandlers([IdleStateHandler(readTimeout: .seconds(30)), Handler(exposition: exposition)])
                }
            }
            .bind(host: host, port: port).get()
        return (channel, channel.localAddress?.port ?? port)
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private let exposition: @Sendable () -> [UInt8]
        private var head: HTTPRequestHead?

        init(exposition: @escaping @Sendable () -> [UInt8]) { self.exposition = exposition }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request): head = request
            case .body: break
            case .end:
                guard let request = head else { return }
                head = nil
                respond(to: request, context: context)
            }
        }

        private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            var status = HTTPResponseStatus.ok
            var body: [UInt8]
            var contentType = "text/plain; charset=utf-8"
            if request.method != .GET && request.method != .HEAD {
                (status, body) = (.methodNotAllowed, Array("GET or HEAD\n".utf8))
            } else if path == "/metrics" {
                body = exposition()
                contentType = "text/plain; version=0.0.4; charset=utf-8"
            } else if path == "/healthz" {
                body = Array("ok\n".utf8)
            } else {
                (status, body) = (.notFound, Array("not found: /metrics or /healthz\n".utf8))
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            let keepAlive = request.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            if request.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
