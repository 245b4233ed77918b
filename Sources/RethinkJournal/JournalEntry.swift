/// One entry in journald's native protocol (systemd's "Native Journal Protocol" page): a field per line,
/// `NAME=value\n`, or `NAME\n<64-bit little-endian length><value>\n` when the value holds a newline.
///
/// Why hand-written: the format is these two rules; libsystemd would add a dependency and nothing else.
public struct JournalEntry: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {
        bytes.reserveCapacity(256)
    }

    /// Appends a field; `name` must already be a valid journal field name (see ``fieldName(for:)``).
    public mutating func append(_ name: String, _ value: String) {
        bytes.append(contentsOf: name.utf8)
        var utf8 = value.utf8
        if utf8.contains(UInt8(ascii: "\n")) {
            bytes.append(UInt8(ascii: "\n"))
            withUnsafeBytes(of: UInt64(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        } else {
            bytes.append(UInt8(ascii: "="))
        }
        utf8 = value.utf8
        bytes.append(contentsOf: utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A journal field name for a log metadata key: upper case, `[A-Z0-9_]` only, at most 64 characters, not
    /// starting with `_` (trusted fields, which only journald sets) nor a digit. `rethink_stub_url` becomes
    /// `RETHINK_STUB_URL`. Nil when nothing usable is left.
    public static func fieldName(for key: String) -> String? {
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name.append("_")
            }
            if name.utf8.count == 64 { break }
        }
        while let first = name.first, first == "_" || first.isNumber { name.removeFirst() }
        return name.isEmpty ? nil : name
    }
}
