import RethinkMessages
import Testing

/// The leading fields of a line cut short: what refuses an over-long request with its own id, and turns an
/// over-long stub answer into the requester's 502.
struct MessageHeadTests {
    @Test func theFieldsBeforeTheCutAreRead() {
        let line = Array(#"{"id": 42, "type":"response","from":"hyperty://a.example/x","to":"hyperty-runtime://r/client/1","body":{"value":"xxxxx"#.utf8)
        #expect(
            MessageHead.scan(line)
                == MessageHead(
                    id: .int(42), type: "response", from: "hyperty://a.example/x", to: "hyperty-runtime://r/client/1"))
    }

    @Test func aBodyBeforeTheAddressesIsSkippedAndAStringIDIsKept() {
        let line = Array(#"{"body":{"a":[1,{"b":"}"}]},"id":"req-7","to":"hyperty://b.example/y","from":"#.utf8)
        #expect(MessageHead.scan(line) == MessageHead(id: .string("req-7"), to: "hyperty://b.example/y"))
    }

    @Test func aValueCutShortIsNotTaken() {
        #expect(MessageHead.scan(Array(#"{"id":12"#.utf8)).id == nil, "12 may be the start of 1234")
        #expect(MessageHead.scan(Array(#"{"type":"read","to":"hyperty://c.exa"#.utf8)) == MessageHead(type: "read"))
        #expect(MessageHead.scan(Array("not json".utf8)) == MessageHead())
    }
}
