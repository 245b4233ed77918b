import Testing

@testable import RethinkMessages

struct MessageParsingTests {
    private func parse(_ text: String) throws(MessageParseError) -> Message {
        try Message.parse(Array(text.utf8))
    }

    @Test func routingFieldsAreReadWithoutDecodingTheBody() throws {
        let message = try parse(
            #"{"id": 7, "type": "create", "from": "hyperty://acme.example/alice", "to": "hyperty://beta.example/bob", "body": {"value": {"text": "hi"}}}"#
        )
        #expect(message.id == .int(7))
        #expect(message.type == .create)
        #expect(message.from == "hyperty://acme.example/alice")
        #expect(message.to == "hyperty://beta.example/bob")
        #expect(message.bodyValue == ["text": "hi"])
    }

    @Test func anIdWithLeadingZerosIsNotJSONAndItsAnswerCarriesNoId() {
        do {
            _ = try parse(#"{"id": 007, "type": "read", "to": "hyperty://beta.example/x"}"#)
            Issue.record("007 was accepted")
        } catch {
            #expect(error.id == nil, "007 must not be read as id 0")
            #expect(error.reason.contains("not JSON"))
        }
    }

    @Test func aNullIdIsRefusedInARequestAndWrittenInAnAnswerThatHasNone() throws {
        #expect(throws: MessageParseError.self) {
            try parse(#"{"id": null, "type": "read", "to": "hyperty://beta.example/x"}"#)
        }
        let answer = Message.response(id: nil, from: "x://a.example/1", to: "x://b.example/2", code: 400)
        #expect(answer.text.hasPrefix(#"{"id":null,"type":"response""#))
        #expect(try parse(answer.text).id == nil)
    }

    @Test func invalidUTF8OrALoneSurrogateInAnyStringIsRefused() {
        let head = Array(#"{"id": 1, "type": "create", "to": "hyperty://beta.example/x"#.utf8)
        for bad: [UInt8] in [[0xFF], [0xC3], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] {
            let line = head + bad + Array(#"", "body": {}}"#.utf8)
            #expect(throws: MessageParseError.self, "bytes \(bad)") { try Message.parse(line) }
            let inBody = Array(#"{"id": 1, "type": "create", "to": "hyperty://beta.example/x", "body": {"v": ""#.utf8)
                + bad + Array(#""}}"#.utf8)
            #expect(throws: MessageParseError.self, "bytes \(bad) in the body") { try Message.parse(inBody) }
        }
        for escape in [#"\ud800"#, #"\udc00"#, #"\ud800\u0041"#] {
            #expect(throws: MessageParseError.self, "\(escape)") {
                try parse(#"{"id": 1, "type": "create", "to": "hyperty://beta.example/x", "body": {"v": ""# + escape + #""}}"#)
            }
        }
    }

    @Test func wellFormedUTF8AndSurrogatePairsAreKept() throws {
        let message = try parse(
            #"{"id": "ü-1", "type": "create", "to": "hyperty://beta.example/zoë", "body": {"v": "€ 𝄞 \ud834\udd1e"}}"#)
        #expect(message.id == .string("ü-1"))
        #expect(message.to == "hyperty://beta.example/zoë")
        #expect(message.bodyValue == nil)
        #expect(message.body?["v"]?.stringValue == "€ 𝄞 𝄞")
    }

    @Test(arguments: MessageType.allCases)
    func everyLowercaseTypeIsKnownAndCanonical(type: MessageType) throws {
        let message = try parse(#"{"id":"a","type":""# + type.rawValue + #"","from":"x://a.example/1","to":"x://b.example/2"}"#)
        #expect(message.type == type)
        #expect(!message.needsCanonicalType)
        #expect(throws: MessageParseError.self) {
            try parse(#"{"id":"a","type":""# + type.rawValue + #"s","to":"x://b.example/2"}"#)
        }
    }

    @Test func typeIsAcceptedInAnyCaseAndWrittenLowercase() throws {
        let message = try parse(#"{"id":"a","type":"UPDATE","from":"x://a.example/1","to":"x://b.example/2"}"#)
        #expect(message.type == .update)
        #expect(message.needsCanonicalType)
        let rewritten = message.rewritten()
        #expect(rewritten.text.contains(#""type":"update""#))
        #expect(!rewritten.needsCanonicalType)
    }

    @Test func seedStatusFormUsesResourceAsDestination() throws {
        let message = try parse(
            #"{"id": "1", "type": "UPDATE", "from": "hyperty-runtime://sp1/protostub/123", "resource": "hyperty-runtime://sp1/protostub/123/status", "body": {"value": "LIVE"}}"#
        )
        #expect(message.to == "hyperty-runtime://sp1/protostub/123/status")
        #expect(message.bodyValue?.stringValue == "LIVE")
    }

    @Test(arguments: [
        ("not json", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        (#"{"type":"create","to":"a://b"} x"#, "trailing"),
        (#"{"id":1,"to":"a://b"}"#, "missing \"type\""),
        (#"{"id":1,"type":"shout","to":"a://b"}"#, "unknown type"),
        (#"{"id":1,"type":"create"}"#, "missing \"to\""),
        (#"{"id":1.5,"type":"create","to":"a://b"}"#, "\"id\" must be"),
        (#"{"id":1,"type":"create","to":"a://b","body":3}"#, "\"body\" must be an object"),
        (#"{"id":1,"type":"create","to":"a://b","body":{"x":[1,}}"#, "not JSON"),
        ("{\"id\":1,\"type\":\"create\",\"to\":\"a\u{01}\"}", "control character"),
    ])
    func badLinesAreRefusedWithAReason(line: String, reason: String) {
        do throws(MessageParseError) {
            _ = try parse(line)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test func idIsRecoveredFromAMessageWithAnUnknownType() {
        do throws(MessageParseError) {
            _ = try parse(#"{"id": 42, "type": "bogus", "to": "hyperty://a.example/x"}"#)
            Issue.record("accepted")
        } catch {
            #expect(error.id == .int(42))
            #expect(error.to == "hyperty://a.example/x")
        }
    }

    @Test func responseCodeAndDescriptionAreRead() throws {
        let message = try parse(
            #"{"id":3,"type":"response","from":"a://x","to":"b://y","body":{"code":100,"description":"wait"}}"#)
        #expect(message.code == 100)
        #expect(message.desc == "wait")
        #expect(!message.isFinalResponse)
        let final = try parse(#"{"id":3,"type":"response","from":"a://x","to":"b://y","body":{"code":404}}"#)
        #expect(final.isFinalResponse)
    }

    /// `desc` is kept as a place in the line and decoded when read: escapes, and "desc" over "description"
    /// in either order, as when it was decoded while parsing.
    @Test func descIsDecodedWhenReadWithItsEscapesAndDescWinsOverDescription() throws {
        let head = #"{"id":3,"type":"response","from":"a://x","to":"b://y","body":{"code":500,"#
        #expect(try parse(head + #""desc":"a \"b\"\n\u00e9 \ud83d\ude00"}}"#).desc == "a \"b\"\n\u{e9} \u{1F600}")
        #expect(try parse(head + #""description":"long","desc":"short"}}"#).desc == "short")
        #expect(try parse(head + #""desc":"short","description":"long"}}"#).desc == "short")
        #expect(try parse(head + #""description":"only"}}"#).desc == "only")
        #expect(try parse(head + #""desc":""}}"#).desc == "")
        #expect(try parse(head + #""desc":7}}"#).desc == nil)
        #expect(try parse(#"{"id":3,"type":"response","from":"a://x","to":"b://y"}"#).desc == nil)
    }

    @Test func viaIsAppendedKeepingTheRestOfTheBody() throws {
        let message = try parse(
            #"{"id":1,"type":"create","from":"a://x.example/1","to":"b://y.example/2","body":{"via":"s://one","value":{"k":[1,2]}}}"#
        )
        #expect(message.via == ["s://one"])
        let rewritten = message.rewritten(appendingVia: "s://two")
        #expect(rewritten.via == ["s://one", "s://two"])
        #expect(rewritten.bodyValue == ["k": [1, 2]])
        let bare = try parse(#"{"type":"create","to":"b://y.example/2"}"#).rewritten(
            from: "c://me", appendingVia: "s://one")
        #expect(bare.from == "c://me")
        #expect(bare.via == ["s://one"])
    }

    @Test func escapedStringsAreDecoded() throws {
        let message = try parse(#"{"type":"create","from":"a://x\"y\u00e9\ud83d\ude00","to":"b://y"}"#)
        #expect(message.from == "a://x\"yé😀")
    }

    @Test func madeMessagesRoundTrip() throws {
        let made = Message.response(id: .string("q"), from: "a://x", to: "b://y", code: 408, desc: "late \"again\"\n")
        let parsed = try Message.parse(made.bytes)
        #expect(parsed.code == 408)
        #expect(parsed.desc == "late \"again\"\n")
        #expect(parsed.id == .string("q"))
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: MessageParseError.self) { try parse(#"{"type":"create","to":"a://b","body":{"x":\#(deep)}}"#) }
    }
}
