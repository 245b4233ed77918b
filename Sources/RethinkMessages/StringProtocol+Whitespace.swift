extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines: what Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` gave, for modules that no longer link Foundation. That set is
    /// Unicode's White_Space property plus the zero-width space, and trimming goes scalar by scalar as Foundation's
    /// does, so a combining mark after a space is kept.
    package func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isTrimmedWhitespace }),
            let last = scalars.lastIndex(where: { !$0.isTrimmedWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

extension Unicode.Scalar {
    fileprivate var isTrimmedWhitespace: Bool { properties.isWhitespace || self == "\u{200B}" }
}
