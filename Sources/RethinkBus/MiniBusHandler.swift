import Logging
import NIOCore
import RethinkMessages

/// The daemon's end of one stub's MiniBUS (SPEC section 6): JSON lines on the stub's stdout come in here and
/// go to the MessageBUS; messages routed to the stub are written to its stdin.
///
/// The deploy handshake's answer (to `hyperty-runtime://sandbox/external`) is taken here and never routed.
public final class MiniBusHandler: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let bus: MessageBus
    public private(set) var port: BusPort!
    private let onHandshake: (Message) -> Void
    private var framer: LineFramer
    private var context: ChannelHandlerContext?
    private var lines = LineBatch()
    private let logger: Logger

    /// - Parameter onHandshake: called on the loop with the stub's answer to the deploy message, before the
    ///   lines that follow it are routed.
    public init(
        bus: MessageBus, domain: DomainKey, url: String, maxLineBytes: Int, logger: Logger,
        onHandshake: @escaping (Message) -> Void
    ) {
        self.bus = bus
        self.onHandshake = onHandshake
        self.framer = LineFramer(maxLineBytes: maxLineBytes)
        self.logger = logger
        self.port = BusPort(
            kind: .stub(domain: domain, url: url),
            deliver: { [weak self] message, _ in self?.deliver(message) },
            flush: { [weak self] in self?.flushLines() })
    }

    private func deliver(_ message: Message) {
        guard let context else { return }
        let ready = lines.append(message, allocator: context.channel.allocator, eagerBytes: bus.eagerFlushBytes)
        if ready != nil { context.writeLines(ready) }
    }

    private func flushLines() {
        guard let context else { return }
        context.writeLines(lines.take())
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let limit = framer.maxLineBytes
        unwrapInboundIn(data).withUnsafeReadableBytes { bytes in
            framer.feedMessages(bytes, line: take) { head in
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

    public func channelReadComplete(context: ChannelHandlerContext) {
        bus.flushAfterReads()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        bus.writabilityChanged(port, isWritable: context.channel.isWritable)
        bus.flush()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("MiniBUS pipe error: \(error)", metadata: stubMetadata)
        context.close(promise: nil)
    }

    private var stubMetadata: Logger.Metadata { StubMetadata.of(url: port.url) }
}
