import Logging
import NIOCore
import RethinkBus
import RethinkMessages

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One local application on the client socket (SPEC section 5): greets it with its client URL, checks that
/// it only sends `from` addresses it owns, answers bad lines (400, 413) and keeps the connection open.
final class ClientConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let bus: MessageBus
    private let number: Int
    private let version: String
    private var framer: LineFramer
    private var context: ChannelHandlerContext?
    private var lines = LineBatch()
    private(set) var port: BusPort!
    private let logger: Logger
    private let status: ServiceStatus?
    /// Whether a peer with these credentials is one of the runtime's stubs: "a stub is never a client".
    private let isStub: @Sendable (_ pid: Int32, _ uid: UInt32) -> Bool
    /// How long the client may stay over its output limit (the channel's high watermark) before it is closed.
    private let stallTimeout: TimeAmount
    private var keepsUp = true
    /// Messages to it dropped since it went over its output limit.
    private var dropped = 0
    private var stall: Scheduled<Void>?
    private let meters: ClientMeters
    /// The "a stub is never a client" warnings, shared by every connection: a stub can connect in a loop.
    private let refusals: RefusalLog?

    init(
        bus: MessageBus, number: Int, maxMessageBytes: Int, version: String, status: ServiceStatus?, logger: Logger,
        meters: ClientMeters = .disabled, refusals: RefusalLog? = nil, stallTimeout: TimeAmount = .seconds(30),
        isStub: @escaping @Sendable (_ pid: Int32, _ uid: UInt32) -> Bool = { _, _ in false }
    ) {
        self.bus = bus
        self.meters = meters
        self.refusals = refusals
        self.stallTimeout = stallTimeout
        self.status = status
        self.isStub = isStub
        self.number = number
        self.version = version
        self.framer = LineFramer(maxLineBytes: maxMessageBytes)
        self.logger = logger
        self.port = BusPort(
            kind: .client(number: number, url: bus.addresses.client(number)),
            deliver: { [weak self] message, _ in self?.deliver(message) },
            flush: { [weak self] in self?.flushLines() })
    }

    private var clientURL: String { port.url }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if let credentials = context.channel.peerCredentials() {
            // On the channel's own loop the option is read at once, before any line is.
            credentials.whenSuccess { [port, isStub, logger, refusals] raw in
                port?.credentials = raw
                if isStub(raw.pid, raw.uid) {
                    let (write, suppressed) = refusals?.limit.admit() ?? (true, nil)
                    if let suppressed {
                        logger.warning("\(suppressed) more client connections from stubs were refused and not logged")
                    }
                    if write {
                        logger.warning(
                            "refused a client connection from a stub (pid \(raw.pid), uid \(raw.uid)): a stub is never a client",
                            metadata: ["rethink_stub_pid": "\(raw.pid)"])
                    }
                    context.close(promise: nil)
                }
            }
        }
        bus.attach(port)
        status?.clientsChanged(by: 1)
        meters.connections.increment()
        meters.connected.increment()
        let greeting = Message.make(
            type: .create, from: bus.addresses.ua, to: clientURL,
            body: [
                "value": [
                    "runtimeURL": .string(bus.addresses.runtimeURL), "clientURL": .string(clientURL),
                    "version": .string(version),
                    "maxMessageBytes": .int(Int64(framer.maxLineBytes)),
                ]
            ])
        bus.send(greeting, to: port)
        bus.flush()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stall?.cancel()
        stall = nil
        bus.detach(port)
        status?.clientsChanged(by: -1)
        meters.connected.decrement()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let limit = framer.maxLineBytes
        unwrapInboundIn(data).withUnsafeReadableBytes { bytes in
            // Its own id (and address) when they come early in the line, so the client can match the 413.
            framer.feedMessages(bytes, line: take) { head in
                refuse(code: 413, desc: "message larger than \(limit) bytes", id: head.id, to: head.to)
            }
        }
    }

    /// A client that does not read cannot grow the daemon (SPEC section 5): over its output limit (the
    /// channel's high watermark) what is addressed to it is dropped and counted; a request among it gets its
    /// requester's 408 from the bus's timeout, as any unanswered request does.
    private func deliver(_ message: Message) {
        guard let context else { return }
        guard keepsUp else {
            dropped += 1
            meters.dropped.increment()
            return
        }
        let ready = lines.append(message, allocator: context.channel.allocator, eagerBytes: bus.eagerFlushBytes)
        if ready != nil { context.writeLines(ready) }
    }

    private func flushLines() {
        guard let context else { return }
        context.writeLines(lines.take())
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        port.isWritable = writable
        if writable, !keepsUp {
            stall?.cancel()
            stall = nil
            if dropped > 0 {
                logger.warning(
                    "client \(clientURL) reads again; \(dropped) message(s) to it were dropped while it was over its output limit",
                    metadata: ["rethink_client": "\(clientURL)", "rethink_dropped": "\(dropped)"])
            }
            dropped = 0
        } else if !writable, keepsUp {
            logger.warning(
                "client \(clientURL) does not read what it is sent: messages to it are dropped until it catches up, and it is disconnected in \(stallTimeout.nanoseconds / 1_000_000_000) s if it does not",
                metadata: ["rethink_client": "\(clientURL)"])
            stall = context.eventLoop.scheduleTask(in: stallTimeout) { [weak self] in
                guard let self else { return }
                self.logger.warning(
                    "client \(self.clientURL) stayed over its output limit for \(self.stallTimeout.nanoseconds / 1_000_000_000) s: disconnected; \(self.dropped) message(s) to it were dropped",
                    metadata: ["rethink_client": "\(self.clientURL)", "rethink_dropped": "\(self.dropped)"])
                self.meters.stalled.increment()
                context.close(promise: nil)
            }
        }
        keepsUp = writable
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        bus.flushAfterReads()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("client \(clientURL) connection error: \(error)")
        context.close(promise: nil)
    }

    private func take(_ line: [UInt8]) {
        var message: Message
        do {
            message = try Message.parse(line)
        } catch {
            refuse(code: 400, desc: error.reason, id: error.id, to: error.to)
            return
        }
        if let from = message.from {
            guard port.owns(from) else {
                refuse(
                    code: 403, desc: "\(from) is not owned by this connection (\(clientURL)); listen on it first",
                    id: message.id,
                    to: message.to)
                return
            }
        } else {
            message = message.rewritten(from: clientURL)
        }
        bus.route(message, from: port)
    }

    /// A runtime error answer: the request's `id` when it could be read, `from` the address it was sent to
    /// (else the runtime URL), `to` this client.
    private func refuse(code: Int, desc: String, id: MessageID?, to: String?) {
        let response = Message.response(
            id: id, from: to ?? bus.addresses.runtimeURL, to: clientURL, code: code, desc: desc)
        bus.send(response, to: port)
    }

}

/// The log limit of refused stub connections (100 lines per 10 s), one for all connections, on the bus's loop.
final class RefusalLog: @unchecked Sendable {
    var limit = LogRateLimit(burst: 100, interval: .seconds(10))
}

extension Channel {
    /// The peer's Unix identity (SO_PEERCRED); nil for a channel without socket options. On the channel's own
    /// loop the future is complete at once.
    func peerCredentials() -> EventLoopFuture<PeerCredentials>? {
        guard let provider = self as? SocketOptionProvider else { return nil }
        let raw: EventLoopFuture<PeerCredentialsLayout> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return raw.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }
}

/// `struct ucred` with the same layout, Sendable for NIO's socket-option API.
struct PeerCredentialsLayout: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
