import Testing

@testable import RethinkMessages

/// `trimmingWhitespace()` stands in for Foundation's `trimmingCharacters(in: .whitespacesAndNewlines)`.
struct WhitespaceTrimmingTests {
    @Test(arguments: [
        ("  abc\n", "abc"),
        ("\r\n\tkey=\u{0B}\u{0C}", "key="),
        ("\u{85}\u{A0}\u{2003}\u{2028}\u{2029}\u{3000}x y\u{202F}\u{205F}", "x y"),
        (" \n\t ", ""),
        ("", ""),
        ("inner  space", "inner  space"),
        ("\u{200B}key\u{200B}", "key"),
    ])
    func leadingAndTrailingWhitespaceAndNewlinesGo(text: String, trimmed: String) {
        #expect(text.trimmingWhitespace() == trimmed)
    }

    /// Foundation's set does not hold a byte-order mark: it is content.
    @Test func aByteOrderMarkStays() {
        #expect("\u{FEFF}a\u{FEFF}".trimmingWhitespace() == "\u{FEFF}a\u{FEFF}")
    }

    /// Trimming goes scalar by scalar: a space that carries a combining accent is not trailing whitespace.
    @Test func aCombiningMarkAfterASpaceIsKept() {
        #expect("a \u{301}".trimmingWhitespace() == "a \u{301}")
    }
}
