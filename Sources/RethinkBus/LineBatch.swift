import NIOCore
import RethinkMessages

/// The message lines written to one channel since its last flush, gathered in one buffer.
///
/// Why: a NIO write per message costs a buffer, a trip down the pipeline and a pending-write entry each, about
/// a tenth of the daemon's CPU with 64 requests in flight (docs/BENCHMARK.md). The bus flushes each port once
/// per batch of input, so a batch goes out as one buffer and one write, or a few where the peer can work on
/// the first lines while the bus routes the rest.
public struct LineBatch {
    private var buffer: ByteBuffer?

    public init() {}

    /// Whether lines wait for the next flush.
    public var isEmpty: Bool { buffer == nil }

    /// Appends one message as a line (its bytes and `\n`); writes the lines out at once when they reach
    /// `eagerBytes` (see ``MessageBus/eagerFlushBytes``).
    public mutating func append(_ message: Message, to context: ChannelHandlerContext, eagerBytes: Int) {
        let size = message.bytes.count + 1
        if buffer == nil { buffer = context.channel.allocator.buffer(capacity: max(size, 1024)) }
        buffer!.writeBytes(message.bytes)
        buffer!.writeInteger(UInt8(ascii: "\n"))
        if buffer!.readableBytes >= eagerBytes { flush(to: context) }
    }

    /// Writes and flushes what was appended; a later append starts a new buffer (NIO may still hold this one).
    public mutating func flush(to context: ChannelHandlerContext) {
        if let pending = buffer {
            buffer = nil
            context.writeAndFlush(NIOAny(pending), promise: nil)
        } else {
            context.flush()
        }
    }
}
