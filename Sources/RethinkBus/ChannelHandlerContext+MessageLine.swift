import NIOCore
import RethinkMessages

extension ChannelHandlerContext {
    /// Writes one message as a line (its bytes and `\n`), without flushing: the bus flushes once per batch.
    public func writeLine(_ message: Message) {
        var buffer = channel.allocator.buffer(capacity: message.bytes.count + 1)
        buffer.writeBytes(message.bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        write(NIOAny(buffer), promise: nil)
    }
}
