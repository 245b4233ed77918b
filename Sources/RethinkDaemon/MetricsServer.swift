import NIOCore
import NIOHTTP1
import NIOPosix
import RethinkBus

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Serves `GET /metrics` (Prometheus text format 0.0.4) on a unix socket, to root and the admin group (the
/// peer's credentials are checked per connection), and optionally on a loopback TCP port, to anyone on the
/// host, for a Prometheus scrape. HTTP because that is what scrapers and `curl --unix-socket` speak.
final class MetricsServer: @unchecked Sendable {
    typealias Render = @Sendable () async -> [UInt8]
    typealias Allow = @Sendable (PeerCredentials?) -> Bool

    private let loop: EventLoop
    private let render: Render
    private let allow: Allow
    private var channels: [Channel] = []
    private var socketPath: String?

    init(loop: EventLoop, allow: @escaping Allow, render: @escaping Render) {
        self.loop = loop
        self.allow = allow
        self.render = render
    }

    /// Binds the unix socket (mode 0666: the peer check decides) and the TCP address, if any.
    func start(socketPath: String?, tcp: MetricsAddress?) async throws {
        if let socketPath {
            channels.append(try await bootstrap(checkingPeers: true).bindUnixSocket(at: socketPath, what: "metrics socket"))
            self.socketPath = socketPath
        }
        if let tcp {
            channels.append(try await bootstrap(checkingPeers: false).bind(host: tcp.host, port: tcp.port).get())
        }
    }

    func stop() async {
        for channel in channels { try? await channel.close() }
        if let socketPath { unlink(socketPath) }
    }

    private func bootstrap(checkingPeers: Bool) -> ServerBootstrap {
        ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { [render, allow] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler(render: render, allow: checkingPeers ? allow : nil))
                }
            }
    }
}

/// One scrape connection: `GET /metrics` gets the text, anything else 404; a unix peer outside the admin
/// policy gets 403.
final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: MetricsServer.Render
    private let allow: MetricsServer.Allow?
    private var head: HTTPRequestHead?

    init(render: @escaping MetricsServer.Render, allow: MetricsServer.Allow?) {
        self.render = render
        self.allow = allow
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let allow else { return serve(head, context: context) }
        guard let credentials = context.channel.peerCredentials() else {
            return respond(context, .forbidden, Array("no peer credentials\n".utf8), head: head)
        }
        credentials.whenComplete { [self] result in
            if allow(try? result.get()) {
                serve(head, context: context)
            } else {
                respond(context, .forbidden, Array("metrics are for root and the admin group\n".utf8), head: head)
            }
        }
    }

    private func serve(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET, head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") else {
            respond(context, .notFound, Array("GET /metrics\n".utf8), head: head)
            return
        }
        let render = self.render
        let promise = context.eventLoop.makePromise(of: [UInt8].self)
        promise.completeWithTask { await render() }
        promise.futureResult.whenSuccess { [self] text in
            respond(context, .ok, text, head: head, type: "text/plain; version=0.0.4; charset=utf-8")
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: [UInt8], head request: HTTPRequestHead,
        type: String = "text/plain; charset=utf-8"
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

}
