import Testing

@testable import RethinkMessages

struct DomainKeyTests {
    @Test(arguments: [
        ("hyperty://beta.example/bob", "beta.example"),
        ("domain://msg-node.acme.example/sm", "acme.example"),
        ("domain://registry.acme.example/", "acme.example"),
        ("user://Acme.Example/alice", "acme.example"),
        ("hyperty-runtime://acme.example/protostub/3", "acme.example"),
        ("xmpp://chat.example/alice@chat.example", "xmpp.chat.example"),
        ("sip://alice@voip.example:5060", "sip.voip.example"),
        ("mqtt://broker.example/topic/a", "mqtt.broker.example"),
    ])
    func addressesMapToTheirDomainKey(address: String, key: String) {
        #expect(DomainKey(address: address)?.value == key)
    }

    @Test(arguments: [
        "no-scheme", "hyperty:///nohost", "hyperty://bad_host/x", "hyperty://-x.example/", "hyperty://a..b/",
    ])
    func addressesWithoutAValidKeyHaveNone(address: String) {
        #expect(DomainKey(address: address) == nil)
    }

    @Test func runtimeLocalAddressesAreRecognised() {
        let addresses = RuntimeAddresses(runtimeDomain: "localhost", runtimeID: "r1")
        #expect(addresses.isRuntimeLocal("hyperty-runtime://localhost/r1/registry"))
        #expect(addresses.isRuntimeLocal("hyperty-runtime://localhost/r1"))
        #expect(!addresses.isRuntimeLocal("hyperty-runtime://localhost/r10"))
        #expect(
            RuntimeAddresses.stubURL(ofStatusResource: "hyperty-runtime://a.example/protostub/3/status")
                == "hyperty-runtime://a.example/protostub/3")
        #expect(RuntimeAddresses.stubURL(ofStatusResource: "hyperty://a.example/bob/status") == nil)
    }
}
