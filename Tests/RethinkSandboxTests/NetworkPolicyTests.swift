import Glibc
import RethinkSandbox
import Testing

/// `constraints` entries as the descriptor spells them, and the decision over one destination.
struct NetworkPolicyTests {
    @Test func destinationsParseEveryDocumentedForm() throws {
        #expect(try NetworkDestination(parsing: "127.0.0.1:4222").description == "127.0.0.1:4222")
        #expect(try NetworkDestination(parsing: "[::1]:53").description == "[::1]:53")
        #expect(try NetworkDestination(parsing: "NATS.Example:4222-4224").description == "nats.example:4222-4224")
        #expect(try NetworkDestination(parsing: "*.example.org:443").description == "*.example.org:443")
    }

    @Test func malformedDestinationsAreRefusedWithHowToWriteThem() {
        for entry in ["nats.example", "host:0", "host:70000", "host:9-3", "bad_host!:80", "*.:80", "[::1:53", ""] {
            #expect(throws: NetworkDestinationError.self, "\(entry)") { try NetworkDestination(parsing: entry) }
        }
    }

    @Test func anAddressIsAllowedOnlyOnItsTransportAndPorts() throws {
        let policy = NetworkPolicy(
            connect: [try NetworkDestination(parsing: "127.0.0.1:4000-4001")],
            datagram: [try NetworkDestination(parsing: "10.1.2.3:5060")])
        let local = try #require(IPAddress("127.0.0.1"))
        #expect(policy.decide(local, port: 4001, transport: .tcp) == .allow)
        #expect(policy.decide(local, port: 4002, transport: .tcp) == .deny)
        #expect(policy.decide(local, port: 4000, transport: .udp) == .deny)
        #expect(policy.decide(try #require(IPAddress("10.1.2.3")), port: 5060, transport: .udp) == .allow)
        #expect(policy.decide(try #require(IPAddress("::ffff:127.0.0.1")), port: 4000, transport: .tcp) == .allow)
    }

    @Test func namesAllowOnlyTheAddressesTheDaemonResolvedThemTo() throws {
        let policy = NetworkPolicy(connect: [try NetworkDestination(parsing: "nats.example:4222")])
        let address = try #require(IPAddress("192.0.2.7"))
        #expect(policy.decide(address, port: 4222, transport: .tcp) == .resolve(names: ["nats.example"], suffixes: []))
        #expect(policy.decide(address, port: 4222, transport: .tcp, resolved: ["nats.example": [address]]) == .allow)
        let other = try #require(IPAddress("192.0.2.8"))
        #expect(policy.decide(other, port: 4222, transport: .tcp, resolved: ["nats.example": [address]]) == .deny)
    }

    @Test func aSuffixMatchesOnlyAConfirmedNameBelowIt() throws {
        let policy = NetworkPolicy(connect: [try NetworkDestination(parsing: "*.example.org:443")])
        let address = try #require(IPAddress("192.0.2.9"))
        #expect(policy.decide(address, port: 443, transport: .tcp, reverse: ["api.example.org"]) == .allow)
        #expect(policy.decide(address, port: 443, transport: .tcp, reverse: ["evilexample.org"]) == .deny)
        #expect(policy.decide(address, port: 443, transport: .tcp, reverse: []) == .deny)
    }

    @Test func theSystemResolversAreReachableOnPort53Only() throws {
        let resolver = try #require(IPAddress("127.0.0.53"))
        let policy = NetworkPolicy(resolvers: [resolver])
        #expect(policy.decide(resolver, port: 53, transport: .udp) == .allow)
        #expect(policy.decide(resolver, port: 53, transport: .tcp) == .allow)
        #expect(policy.decide(resolver, port: 54, transport: .udp) == .deny)
    }
}
