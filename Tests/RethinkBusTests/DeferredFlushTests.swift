import NIOCore
import RethinkBus
import RethinkMessages
import Testing

/// The answers of many stubs read in one event-loop iteration reach their client in one flush, after the
/// iteration's reads, not one flush per stub.
struct DeferredFlushTests {
    @Test func readsOfOneIterationShareOneFlushOfTheClient() throws {
        let harness = BusHarness()
        var flushes = 0
        let client = BusPort(
            kind: .client(number: 9, url: harness.addresses.client(9)), deliver: { _, _ in }, flush: { flushes += 1 })
        harness.bus.attach(client)
        let stubs = (0..<3).map { harness.stub("d\($0).example") }
        for (index, _) in stubs.enumerated() {
            let request = Message.make(id: .int(Int64(index)), type: .read, from: client.url, to: "hyperty://d\(index).example/x")
            harness.bus.route(request, from: client)
        }
        harness.bus.flush()
        flushes = 0
        // Each stub answers in its own read; each read's end asks for a flush.
        for (index, stub) in stubs.enumerated() {
            let answer = Message.response(
                id: .int(Int64(index)), from: "hyperty://d\(index).example/x", to: client.url, code: 200)
            harness.bus.route(answer, from: stub.port)
            harness.bus.flushAfterReads()
        }
        #expect(flushes == 0)
        harness.loop.run()
        #expect(flushes == 1)
        // Nothing written since: nothing more to flush.
        harness.bus.flushAfterReads()
        harness.loop.run()
        #expect(flushes == 1)
    }
}
