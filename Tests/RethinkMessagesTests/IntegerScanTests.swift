import Testing

@testable import RethinkMessages

/// Ids and codes are read from the bytes: the scanner must answer what `Int64(String)` answers for any text
/// JSON lets through, so that no id is read differently than before. (`Int64("+1")` is 1, the scanner's nil:
/// a leading `+` is not JSON, and such a line is refused before its id is read; pinned below.)
struct IntegerScanTests {
    @Test(arguments: [
        "0", "7", "-0", "-7", "123456789", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999", "", "-", "--1", " 1", "1 ", "1.0", "1e3", "0x10", "12a",
    ])
    func readsWhatInt64Reads(text: String) {
        let bytes = Array(text.utf8)
        let read = bytes.withUnsafeBufferPointer { JSONScanner($0).integer(in: 0..<bytes.count) }
        #expect(read == Int64(text), "\(text)")
    }

    @Test func anIdAndACodeAreReadFromTheirBytes() throws {
        let request = try Message.parse(Array(#"{"id": -42, "type": "read", "to": "hyperty://b.example/y"}"#.utf8))
        #expect(request.id == .int(-42))
        let answer = try Message.parse(
            Array(#"{"id": 9223372036854775807, "type": "response", "to": "x://a.example/1", "body": {"code": 404}}"#.utf8))
        #expect(answer.id == .int(9_223_372_036_854_775_807))
        #expect(answer.code == 404)
        #expect(throws: MessageParseError.self) {
            try Message.parse(Array(#"{"id": +1, "type": "read", "to": "x://b.example/y"}"#.utf8))
        }
        let overflow = try? Message.parse(Array(#"{"id": 9223372036854775808, "type": "read", "to": "x://b.example/y"}"#.utf8))
        #expect(overflow == nil)
    }
}
