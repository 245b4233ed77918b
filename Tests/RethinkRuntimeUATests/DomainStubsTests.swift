import RethinkMessages
import Testing

@testable import RethinkRuntimeUA

/// A domain's stubs: a stopped stub leaves `current` at once, so a deploy may start beside it while it ends,
/// and its exit still finds its record.
struct DomainStubsTests {
    static let domain = DomainKey("acme.example")!

    @Test func anEmptyDomainHasNoEntryAndARecordAnywhereIsFoundByURL() {
        var stubs = DomainStubs()
        #expect(stubs.isEmpty)
        stubs.current = StubRecord(domain: Self.domain, url: "a")
        stubs.successor = StubRecord(domain: Self.domain, url: "b")
        #expect(!stubs.isEmpty)
        #expect(stubs.update("a") { $0.url } == "a")
        #expect(stubs.update("b") { $0.url } == "b")
        #expect(stubs.update("c") { $0.url } == nil)
        stubs.remove("a")
        stubs.remove("b")
        #expect(stubs.isEmpty)
    }

    @Test func leavingMovesTheCurrentStubOutOfTheWayAndKeepsItsRecord() {
        var stubs = DomainStubs()
        stubs.current = StubRecord(domain: Self.domain, url: "a")
        #expect(stubs.leave("a") == nil, "not attached: nothing to signal")
        #expect(stubs.current == nil, "a new deploy may start")
        #expect(stubs.leaving["a"] != nil, "its exit still finds it")
        #expect(stubs.update("a") { $0.url } == "a")
        #expect(stubs.leave("missing") == nil)
    }
}
