import NIOCore
import RethinkMessages
import Testing

@testable import RethinkBus

/// A port's lines wait for the batch's flush, and are handed over earlier only once they reach the eager size:
/// nothing is lost or reordered either way.
struct LineBatchTests {
    static func message(_ id: Int) -> Message {
        Message.make(id: .int(Int64(id)), type: .create, from: "hyperty://a.example/x", to: "hyperty://b.example/y")
    }

    static func lines(_ buffer: ByteBuffer?) -> [String] {
        guard var buffer else { return [] }
        return (buffer.readString(length: buffer.readableBytes) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func linesWaitForTheTakeBelowTheEagerSize() {
        var batch = LineBatch()
        for id in 1...3 {
            #expect(batch.append(Self.message(id), allocator: ByteBufferAllocator(), eagerBytes: .max) == nil)
        }
        #expect(!batch.isEmpty)
        #expect(Self.lines(batch.take()) == (1...3).map { Self.message($0).text })
        #expect(batch.isEmpty)
        #expect(batch.take() == nil)
    }

    @Test func linesAreHandedOverAtTheEagerSizeAndTheRestAtTheTake() {
        var batch = LineBatch()
        let size = Self.message(1).bytes.count + 1
        // Two lines reach the eager size; the third waits.
        #expect(batch.append(Self.message(1), allocator: ByteBufferAllocator(), eagerBytes: 2 * size) == nil)
        let ready = batch.append(Self.message(2), allocator: ByteBufferAllocator(), eagerBytes: 2 * size)
        #expect(Self.lines(ready) == (1...2).map { Self.message($0).text })
        #expect(batch.append(Self.message(3), allocator: ByteBufferAllocator(), eagerBytes: 2 * size) == nil)
        #expect(Self.lines(batch.take()) == [Self.message(3).text])
    }

    @Test func theAffinityMaskCountsEveryAllowedCPU() {
        #expect(CPUAffinity.count(status: "Name:\tx\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(CPUAffinity.count(status: "Cpus_allowed:\t3\n") == 2)
        #expect(CPUAffinity.count(status: "Cpus_allowed:\tff,00000001\n") == 9)
        #expect(CPUAffinity.count(status: "Name:\tx\n") == 1)
        #expect(CPUAffinity.usableCPUs() >= 1)
    }
}
