/// The runtime a stub's code needs, which decides the system calls its sandbox allows.
///
/// The reTHINK catalogue spells languages its own way ("PYTHON", "JAVASCRIPT_ECMA6"), so
/// descriptors are parsed with ``init(descriptorValue:)`` rather than the raw value.
public enum StubLanguage: String, Sendable, Codable, CaseIterable {
    /// `/usr/bin/python3` running a script.
    case python
    /// Node.js running a script.
    case javascript
    /// A native program: C, Swift, anything that links glibc or is static.
    case executable

    /// Accepts the catalogue's spellings as well as the raw values, case-insensitively and with spaces or
    /// hyphens for underscores, as reTHINK's catalogues wrote them: "PYTHON", "javascript",
    /// "JAVASCRIPT_ECMA6", "Javascript ECMA5", "executable".
    public init?(descriptorValue: String) {
        let words = descriptorValue.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "_" })
        let normalized = words.joined(separator: "_")
        switch normalized {
        case "python", "python3": self = .python
        case "javascript", "javascript_ecma6", "javascript_ecma5", "ecmascript", "ecmascript6", "js": self = .javascript
        case "executable", "native": self = .executable
        default: return nil
        }
    }
}
