import Testing

@testable import RethinkMessages

/// The string scan skips sixteen plain bytes at a time: whatever must stop it (a quote, a backslash, a control
/// byte, a non-ASCII byte) must be seen in every lane of a block and in the bytes after the
/// last whole block.
struct StringScanTests {
    static func line(body: [UInt8]) -> [UInt8] {
        Array(#"{"id":1,"type":"read","from":"hyperty://a.example/x","to":"hyperty://b.example/y","body":{"value":""#.utf8)
            + body + Array(#""}}"#.utf8)
    }

    @Test(arguments: 0..<40)
    func aByteThatMustStopTheScanIsSeenAtEveryOffset(offset: Int) throws {
        let padding = [UInt8](repeating: UInt8(ascii: "x"), count: offset)
        let tail = [UInt8](repeating: UInt8(ascii: "y"), count: 11)
        // A control byte is refused wherever it is.
        for control: UInt8 in [0x01, 0x1F] {
            #expect(throws: MessageParseError.self) { try Message.parse(Self.line(body: padding + [control] + tail)) }
        }
        // An escaped quote and backslash, and two-byte UTF-8, are kept as they are.
        // DEL (0x7F), the last plain byte, too.
        for special in [Array(#"\""#.utf8), Array(#"\\"#.utf8), Array("é".utf8), [0x7F]] {
            let message = try Message.parse(Self.line(body: padding + special + tail))
            let value = try #require(message.bodyValue?.stringValue)
            #expect(value.utf8.count == offset + (special == Array("é".utf8) ? 2 : 1) + 11)
        }
        // A bare quote ends the string early, and what follows is not JSON.
        #expect(throws: MessageParseError.self) {
            try Message.parse(Self.line(body: padding + [UInt8(ascii: "\"")] + tail))
        }
        // Invalid UTF-8 is refused.
        #expect(throws: MessageParseError.self) { try Message.parse(Self.line(body: padding + [0xFF] + tail)) }
    }
}
