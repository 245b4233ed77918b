import NIOCore
import RethinkBus
import RethinkMessages
import Testing

/// The MessageBUS's rules pinned on an embedded loop: exactly one final response, the stub queue's limit and
/// compaction, drain waits, idle stubs, the monitor's tap.
struct MessageBusTests {
    @Test func aRequestNobodyAnswersGetsOne408AtItsDeadlineAndALateAnswerIsDropped() {
        let harness = BusHarness { $0.responseTimeout = .seconds(2) }
        let alice = harness.client()
        let bob = harness.client()
        try? harness.bus.listen(bob.port, on: "hyperty://acme.example/bob")
        let request = harness.request(1, from: alice, to: "hyperty://acme.example/bob")
        #expect(bob.received.map(\.id) == [.int(1)])
        harness.advance(.seconds(3))
        #expect(alice.responses.map(\.code) == [408])
        harness.bus.route(request.response(code: 200), from: bob.port)
        harness.bus.flush()
        #expect(alice.responses.count == 1, "the late answer is dropped")
    }

    @Test func aStubsQueueRefusesPastItsLimitAndFreesThePlacesOfRequestsAlreadyAnswered() {
        let harness = BusHarness {
            $0.responseTimeout = .seconds(2)
            $0.queueLimit = 4
        }
        let client = harness.client()
        _ = harness.stub("stuck.example", live: false)
        for id in 1...5 { harness.request(Int64(id), from: client, to: "hyperty://stuck.example/x") }
        #expect(client.responses.map(\.code) == [429], "the fifth finds the queue full")
        harness.advance(.seconds(3))
        #expect(client.responses.map(\.code) == [429, 408, 408, 408, 408])
        // All four queued requests are answered: the queue makes room for new ones, instead of 429.
        harness.request(6, from: client, to: "hyperty://stuck.example/x")
        #expect(client.responses.count == 5, "request 6 waits in the queue")
    }

    @Test func aDrainWaitEndsWhenTheLastRequestIsAnsweredOrAtItsDeadline() throws {
        let harness = BusHarness()
        let alice = harness.client()
        let stub = harness.stub("beta.example")
        let request = harness.request(1, from: alice, to: "hyperty://beta.example/bob")
        var drained = false
        harness.bus.whenDrained(deadline: .now() + .seconds(60)).whenSuccess { drained = true }
        #expect(!drained)
        harness.bus.route(request.response(code: 200), from: stub.port)
        #expect(drained, "answered: drained at once")
        harness.request(2, from: alice, to: "hyperty://beta.example/bob")
        var ended = false
        harness.bus.whenDrained(of: stub.port.url, deadline: harness.loop.now + .seconds(1)).whenSuccess { ended = true }
        harness.advance(.milliseconds(500))
        #expect(!ended)
        harness.advance(.milliseconds(600))
        #expect(ended, "the deadline ends the wait")
    }

    @Test func anIdleStubIsReportedOnceAndTakenOnlyWhileStillIdle() {
        let harness = BusHarness { $0.idleTimeout = .seconds(2) }
        let client = harness.client()
        let stub = harness.stub("beta.example")
        let domain = DomainKey("beta.example")!
        harness.advance(.seconds(4))
        #expect(harness.delegate.idle.withLock { $0 } == [stub.port.url])
        harness.advance(.seconds(4))
        #expect(harness.delegate.idle.withLock { $0 }.count == 1, "reported once")
        // Traffic since the report: it is kept.
        harness.request(1, from: client, to: "hyperty://beta.example/x")
        #expect(!harness.bus.takeIdleStub(stub.port.url, of: domain))
        harness.bus.route(stub.received[0].response(code: 200), from: stub.port)
        harness.advance(.seconds(4))
        #expect(harness.delegate.idle.withLock { $0 }.count == 2, "idle again")
        #expect(harness.bus.takeIdleStub(stub.port.url, of: domain))
        harness.request(2, from: client, to: "hyperty://beta.example/x")
        #expect(harness.delegate.needed.withLock { $0 } == [domain], "the next message asks for a new stub")
        #expect(stub.received.count == 1, "and does not reach the one going away")
    }

    @Test func aWatcherSeesEachDeliveryAndCountsWhatItMissedWhileItDidNotKeepUp() throws {
        let harness = BusHarness()
        let alice = harness.client()
        let watcher = harness.client()
        let stub = harness.stub("beta.example")
        harness.bus.watch(watcher.port, domain: DomainKey("beta.example"), address: nil, bodies: false)
        harness.request(1, from: alice, to: "hyperty://beta.example/bob")
        let first = try #require(watcher.received.last?.bodyValue)
        #expect(first["path"]?.stringValue == "client->stub")
        #expect(first["to"]?.stringValue == "hyperty://beta.example/bob")
        watcher.port.isWritable = false
        harness.bus.route(stub.received[0].response(code: 200), from: stub.port)
        harness.request(2, from: alice, to: "hyperty://beta.example/bob")
        watcher.port.isWritable = true
        harness.request(3, from: alice, to: "hyperty://beta.example/bob")
        let next = try #require(watcher.received.last?.bodyValue)
        #expect(next["dropped"]?.intValue == 2, "the answer and request 2 were not shown")
        #expect(next["id"]?.intValue == 3)
    }
}
