/// The first top-level fields of a message whose line is too long to parse (or cut short): its `id`,
/// `type`, `from` and `to`, when they come before the cut. An over-long request can then be refused with its
/// own id (413), and an over-long answer from a stub turned into the requester's 502 at once.
///
/// Hand-written: a JSON parser rejects a truncated document; this reads only the leading `"key": value`
/// pairs of the object and stops at the first thing it cannot finish.
public struct MessageHead: Sendable, Equatable {
    public var id: MessageID?
    public var type: String?
    public var from: String?
    public var to: String?

    public init(id: MessageID? = nil, type: String? = nil, from: String? = nil, to: String? = nil) {
        self.id = id
        self.type = type
        self.from = from
        self.to = to
    }

    /// Reads the head of the (possibly truncated) message line `prefix`.
    public static func scan(_ prefix: [UInt8]) -> MessageHead {
        var scanner = Scanner(bytes: prefix)
        var head = MessageHead()
        scanner.skipSpace()
        guard scanner.take(UInt8(ascii: "{")) else { return head }
        while true {
            scanner.skipSpace()
            guard let key = scanner.string() else { return head }
            scanner.skipSpace()
            guard scanner.take(UInt8(ascii: ":")) else { return head }
            scanner.skipSpace()
            guard let first = scanner.peek else { return head }
            switch first {
            case UInt8(ascii: "\""):
                guard let value = scanner.string() else { return head }
                switch key {
                case "id": head.id = .string(value)
                case "type": head.type = value
                case "from": head.from = value
                case "to": head.to = value
                default: break
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let number = scanner.integer() else { return head }
                if key == "id" { head.id = .int(number) }
            default:
                guard scanner.skipValue() else { return head }
            }
            scanner.skipSpace()
            guard scanner.take(UInt8(ascii: ",")) else { return head }
        }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }

        /// A complete JSON string (common escapes decoded; a `\u` escape is kept as written).
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var out: [UInt8] = []
            while let byte = peek {
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = peek else { return nil }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "u"): out += [UInt8(ascii: "\\"), escaped]
                    default: out.append(escaped)
                    }
                default: out.append(byte)
                }
            }
            return nil
        }

        /// An integer that ends before the cut (a number running into the end may be longer than it looks).
        mutating func integer() -> Int64? {
            let start = position
            if peek == UInt8(ascii: "-") { position += 1 }
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
            guard position < bytes.count, position > start else { return nil }
            return Int64(String(decoding: bytes[start..<position], as: UTF8.self))
        }

        /// Skips an object, array or literal that ends before the cut.
        mutating func skipValue() -> Bool {
            var depth = 0
            while let byte = peek {
                switch byte {
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                    if depth == 0 { return true }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth < 0 { return false }
                    if depth == 0 {
                        position += 1
                        return true
                    }
                case UInt8(ascii: ","):
                    if depth == 0 { return true }
                default: break
                }
                position += 1
            }
            return false
        }
    }
}
