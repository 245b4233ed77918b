import Logging
import NIOCore
import RethinkBus
import RethinkMessages

/// The daemon's end of one stub's MiniBUS (SPEC section 6): JSON lines on the stub's stdout come in here and
/// go to the MessageBUS; messages routed to the stub are written to its stdin.
///
/// The deploy handshake's answer (to `hyperty-runtime://sandbox/external`) is taken here and never routed.
final class MiniBusHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let bus: MessageBus
    private(set) var port: BusPort!
    private let onHandshake: (Message) -> Void
    private var framer: LineFramer
    private var context: ChannelHandlerContext?
    private let logger: Logger

    /// - Parameter onHandshake: called on the loop with the stub's answer to the deploy message, before the
    ///   lines that follow it are routed.
    init(
        bus: MessageBus, domain: DomainKey, url: String, maxLineBytes: Int, logger: Logger,
        onHandshake: @escaping (Message) -> Void
    ) {
        self.bus = bus
        self.onHandshake = onHandshake
        self.framer = LineFramer(maxLineBytes: maxLineBytes)
        self.logger = logger
        self.port = BusPort(
            kind: .stub(domain: domain, url: url),
            deliver: { [weak self] message, _ in self?.context?.writeLine(message) },
            flush: { [weak self] in self?.context?.flush() })
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let limit = framer.maxLineBytes
        buffer.withUnsafeReadableBytes { bytes in
            framer.feed(bytes) { event in
                switch event {
                case .line(let line): take(line)
                case .oversized(let prefix):
                    let head = MessageHead.scan(prefix)
                    logger.warning(
                        "stub wrote a line over \(limit) bytes\(head.type.map { " (a \($0))" } ?? ""); dropped",
                        metadata: stubMetadata)
                    // An answer that cannot be delivered is the requester's 502 now, not its 408 later.
                    if head.type == "response", let id = head.id, let to = head.to {
                        bus.stubAnswerTooLarge(from: port, to: to, id: id, limit: limit)
                    }
                }
            }
        }
    }

    private func take(_ line: [UInt8]) {
        let message: Message
        do {
            message = try Message.parse(line)
        } catch {
            logger.warning("stub wrote a line that is not a message (\(error.reason)); dropped", metadata: stubMetadata)
            return
        }
        if message.to == RuntimeAddresses.sandboxExternal {
            if message.type == .response, message.id == .int(1) {
                onHandshake(message)
            } else {
                logger.notice(
                    "stub wrote to the sandbox handshake address outside the handshake; dropped", metadata: stubMetadata
                )
            }
            return
        }
        bus.route(message, from: port)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        bus.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        bus.writabilityChanged(port, isWritable: context.channel.isWritable)
        bus.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("MiniBUS pipe error: \(error)", metadata: stubMetadata)
        context.close(promise: nil)
    }

    private var stubMetadata: Logger.Metadata {
        ["rethink_stub_url": "\(port.url)"]
    }
}

/// A value set once, awaited once: the handshake answer, or the reason there will be none.
final class OnceBox<Value: Sendable>: @unchecked Sendable {
    private let promise: EventLoopPromise<Value>
    private var done = false

    init(eventLoop: EventLoop) {
        promise = eventLoop.makePromise()
    }

    /// Completes at once; call on the promise's loop. Returns false when it was already completed.
    func completeOnLoop(_ value: Value) -> Bool {
        promise.futureResult.eventLoop.preconditionInEventLoop()
        guard !done else { return false }
        done = true
        promise.succeed(value)
        return true
    }

    /// Completes on the promise's loop; later completions are ignored.
    func complete(_ value: Value) {
        promise.futureResult.eventLoop.execute {
            guard !self.done else { return }
            self.done = true
            self.promise.succeed(value)
        }
    }

    func fail(_ error: Error) {
        promise.futureResult.eventLoop.execute {
            guard !self.done else { return }
            self.done = true
            self.promise.fail(error)
        }
    }

    var value: EventLoopFuture<Value> { promise.futureResult }
}
