import NIOCore
import RethinkBus
import RethinkMessages
import Testing

/// Addresses a stub declares multi-party (an IRC channel, an MQTT topic): what a local client writes there
/// reaches the network and the local listeners, and the sender still gets exactly one answer, the network's.
struct MultiPartyRoutingTests {
    static let room = "irc://irc.example/#room"

    /// The stub of irc.irc.example reports `live` declaring `key` (multiParty or echoed) for channels.
    static func declare(_ key: String, on harness: BusHarness) -> BusHarness.Port {
        let stub = harness.stub("irc.irc.example")
        let url = stub.port.url
        let update = Message.make(
            type: .update, from: url, to: url + "/status",
            body: ["value": "live", .init(stringLiteral: key): ["irc://irc.example/#", "hyperty://other.example/"]])
        harness.bus.route(update, from: stub.port)
        harness.bus.flush()
        return stub
    }

    /// A stub that declared `key`, a client listening on the room, and a poster's request 1 to the room.
    static func posted(declaring key: String) throws
        -> (harness: BusHarness, stub: BusHarness.Port, listener: BusHarness.Port, poster: BusHarness.Port, request: Message)
    {
        let harness = BusHarness()
        let stub = declare(key, on: harness)
        let listener = harness.client()
        try harness.bus.listen(listener.port, on: room)
        let poster = harness.client()
        let request = harness.request(1, from: poster, to: room, type: .create)
        return (harness, stub, listener, poster, request)
    }

    @Test func aMessageToAChannelGoesToTheNetworkAndACopyToEachListenerWithOneAnswer() throws {
        let (harness, stub, listener, poster, request) = try Self.posted(declaring: "multiParty")
        #expect(stub.received.filter { $0.type == .create }.map(\.id) == [.int(1)], "the network gets it")
        #expect(listener.received.map(\.id) == [.int(1)], "the listener gets a copy")
        harness.bus.route(request.response(code: 200), from: listener.port)
        harness.bus.flush()
        #expect(poster.responses.isEmpty, "a listener's answer to its copy is not the answer")
        harness.bus.route(request.response(code: 200), from: stub.port)
        harness.bus.flush()
        #expect(poster.responses.map(\.code) == [200])
    }

    @Test func anEchoedTopicGoesToTheNetworkOnlyWhichBringsItBackToTheListeners() throws {
        let (_, stub, listener, _, _) = try Self.posted(declaring: "echoed")
        #expect(stub.received.filter { $0.type == .create }.map(\.id) == [.int(1)])
        #expect(listener.received.isEmpty, "no copy: the network delivers it back")
    }

    @Test func withoutADeclarationAListenedAddressIsLocalAndAStubCannotDeclareAnotherDomain() throws {
        let harness = BusHarness()
        let stub = Self.declare("multiParty", on: harness)
        let listener = harness.client()
        try harness.bus.listen(listener.port, on: "hyperty://other.example/x")
        try harness.bus.listen(listener.port, on: "irc://irc.example/bob")
        let poster = harness.client()
        harness.request(1, from: poster, to: "hyperty://other.example/x", type: .create)
        harness.request(2, from: poster, to: "irc://irc.example/bob", type: .create)
        #expect(listener.received.map(\.id) == [.int(1), .int(2)])
        #expect(stub.received.filter { $0.type == .create }.isEmpty, "neither went to the network")
    }
}
