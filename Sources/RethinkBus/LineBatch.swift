import NIOCore
import RethinkMessages

/// The message lines written to one channel since its last flush, gathered in one buffer.
///
/// Why: a NIO write per message costs a buffer, a trip down the pipeline and a pending-write entry each, about
/// a tenth of the daemon's CPU with 64 requests in flight (docs/BENCHMARK.md). The bus flushes each port once
/// per batch of input, so a batch goes out as one buffer and one write, or a few where the peer can work on
/// the first lines while the bus routes the rest.
///
/// The batch never writes itself: it hands its buffer over and the handler writes it, after the batch's
/// mutation is over. A write can re-enter the handler at once (NIO reports writability changes from inside
/// it, and the bus then flushes and delivers again), and a mutation still in progress would be a conflicting
/// access.
public struct LineBatch {
    private var buffer: ByteBuffer?

    public init() {}

    /// Whether lines wait for the next flush.
    public var isEmpty: Bool { buffer == nil }

    /// Appends one message as a line (its bytes and `\n`); once the lines reach `eagerBytes` (see
    /// ``MessageBus/eagerFlushBytes``), returns them to be written now, and starts a new buffer.
    public mutating func append(_ message: Message, allocator: ByteBufferAllocator, eagerBytes: Int) -> ByteBuffer? {
        let size = message.bytes.count + 1
        if buffer == nil { buffer = allocator.buffer(capacity: max(size, 1024)) }
        buffer!.writeBytes(message.bytes)
        buffer!.writeInteger(UInt8(ascii: "\n"))
        return buffer!.readableBytes >= eagerBytes ? take() : nil
    }

    /// The lines appended since the last take, if any; a later append starts a new buffer (NIO may still hold
    /// this one).
    public mutating func take() -> ByteBuffer? {
        defer { buffer = nil }
        return buffer
    }
}

extension ChannelHandlerContext {
    /// Writes and flushes a batch's lines, or flushes alone when there are none.
    public func writeLines(_ lines: ByteBuffer?) {
        if let lines {
            writeAndFlush(NIOAny(lines), promise: nil)
        } else {
            flush()
        }
    }
}
