import NIOCore
import NIOEmbedded
import RethinkMessages
import Testing

@testable import RethinkBus

/// A port's lines wait for the batch's flush, and go out earlier only once they reach the eager size: nothing
/// is lost or reordered either way.
struct LineBatchTests {
    /// A channel whose handler appends through a batch; `eagerBytes` as the bus would give it.
    final class Writer: ChannelInboundHandler {
        typealias InboundIn = Never
        var context: ChannelHandlerContext?
        var lines = LineBatch()
        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    }

    static func message(_ id: Int) -> Message {
        Message.make(id: .int(Int64(id)), type: .create, from: "hyperty://a.example/x", to: "hyperty://b.example/y")
    }

    static func written(_ channel: EmbeddedChannel) throws -> [String] {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        return text.split(separator: "\n").map(String.init)
    }

    @Test func linesWaitForTheFlushBelowTheEagerSize() throws {
        let writer = Writer()
        let channel = EmbeddedChannel(handler: writer)
        for id in 1...3 { writer.lines.append(Self.message(id), to: writer.context!, eagerBytes: .max) }
        #expect(try Self.written(channel).isEmpty)
        writer.lines.flush(to: writer.context!)
        #expect(try Self.written(channel) == (1...3).map { Self.message($0).text })
        #expect(writer.lines.isEmpty)
    }

    @Test func linesGoOutAtTheEagerSizeAndTheRestAtTheFlush() throws {
        let writer = Writer()
        let channel = EmbeddedChannel(handler: writer)
        let size = Self.message(1).bytes.count + 1
        // Two lines reach the eager size; the third waits.
        for id in 1...3 { writer.lines.append(Self.message(id), to: writer.context!, eagerBytes: 2 * size) }
        #expect(try Self.written(channel) == (1...2).map { Self.message($0).text })
        writer.lines.flush(to: writer.context!)
        #expect(try Self.written(channel) == [Self.message(3).text])
    }

    @Test func theAffinityMaskCountsEveryAllowedCPU() {
        #expect(CPUAffinity.count(status: "Name:\tx\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(CPUAffinity.count(status: "Cpus_allowed:\t3\n") == 2)
        #expect(CPUAffinity.count(status: "Cpus_allowed:\tff,00000001\n") == 9)
        #expect(CPUAffinity.count(status: "Name:\tx\n") == 1)
        #expect(CPUAffinity.usableCPUs() >= 1)
    }
}
