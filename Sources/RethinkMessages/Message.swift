/// One reTHINK message: its original bytes plus the few fields the runtime routes by.
///
/// The body is validated but not decoded: a forwarded message is written out with the bytes it came in
/// with. `body` decodes it on demand for the runtime-local requests that need to look inside.
public struct Message: Sendable {
    /// The JSON object, without the line's trailing newline.
    public let bytes: [UInt8]
    public let type: MessageType
    public let id: MessageID?
    public let from: String?
    /// The destination: `to`, or the seed form's `resource` when `to` is absent.
    public let to: String
    /// `body.code` of a response.
    public let code: Int?
    /// `body.desc` (or `body.description`), decoded when read: the bus routes answers without looking at it.
    public var desc: String? {
        guard let range = descRange else { return nil }
        return bytes.withUnsafeBufferPointer { JSONScanner($0).decodeString(range, escaped: descEscaped) }
    }
    /// `body.via`: the stub URLs this message passed through.
    public let via: [String]
    let bodyRange: Range<Int>?
    let valueRange: Range<Int>?
    let typeIsCanonical: Bool
    /// Where `desc`'s string is in `bytes` (between its quotes), and whether it holds escapes.
    let descRange: Range<Int>?
    let descEscaped: Bool

    /// A final response has a code of 200 or more (or no code at all); codes below 200 are provisional.
    public var isFinalResponse: Bool { type == .response && (code ?? 200) >= 200 }

    /// The decoded `body`, or nil when there is none.
    public var body: JSONValue? {
        guard let range = bodyRange else { return nil }
        return try? JSONValue.parse(bytes[range])
    }

    /// The decoded `body.value`, or nil when there is none.
    public var bodyValue: JSONValue? {
        guard let range = valueRange else { return nil }
        return try? JSONValue.parse(bytes[range])
    }

    /// The message as text, for logs and tests.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Parses one line. Checks the syntax of the whole object; decodes only the routing fields.
    public static func parse(_ bytes: [UInt8]) throws(MessageParseError) -> Message {
        var fields = Fields()
        let failure: String? = bytes.withUnsafeBufferPointer { buffer -> String? in
            var scanner = JSONScanner(buffer)
            scanner.skipWhitespace()
            guard scanner.peek() == UInt8(ascii: "{") else { return "not a JSON object" }
            do throws(JSONScanner.Failure) {
                try scanner.forEachMember { scanner, key, escaped throws(JSONScanner.Failure) in
                    guard !escaped else { return false }
                    return try fields.take(key: key, scanner: &scanner)
                }
                scanner.skipWhitespace()
                guard scanner.atEnd else { return "trailing bytes after the message object" }
            } catch {
                return "not JSON: \(error.reason)"
            }
            return nil
        }
        if let failure { throw MessageParseError(reason: failure, id: fields.id, to: fields.to ?? fields.resource) }
        if let problem = fields.problem {
            throw MessageParseError(reason: problem, id: fields.id, to: fields.to ?? fields.resource)
        }
        guard let typeName = fields.typeName else {
            throw MessageParseError(reason: "missing \"type\"", id: fields.id, to: fields.to ?? fields.resource)
        }
        guard let type = fields.type else {
            throw MessageParseError(
                reason: "unknown type \"\(typeName)\"; expected one of "
                    + MessageType.allCases.map(\.rawValue).joined(separator: ", "),
                id: fields.id, to: fields.to ?? fields.resource)
        }
        // Neither a request (which needs an id to be answered) nor clearly a notification: refused, so that it
        // cannot go unanswered (SPEC section 2; a notification leaves "id" out).
        if fields.idIsNull, type != .response {
            throw MessageParseError(
                reason: "\"id\" must be an integer or a string; leave it out for a message that expects no answer",
                id: nil, to: fields.to ?? fields.resource)
        }
        guard let to = fields.to ?? fields.resource, !to.isEmpty else {
            throw MessageParseError(reason: "missing \"to\"", id: fields.id, to: nil)
        }
        return Message(
            bytes: bytes, type: type, id: fields.id, from: fields.from, to: to, code: fields.code,
            via: fields.via, bodyRange: fields.bodyRange, valueRange: fields.valueRange,
            typeIsCanonical: fields.typeIsCanonical, descRange: fields.descRange, descEscaped: fields.descEscaped)
    }

    /// Builds a message the runtime writes itself.
    public static func make(
        id: MessageID? = nil, type: MessageType, from: String, to: String, body: JSONValue? = nil
    ) -> Message {
        var writer = JSONWriter()
        writer.byte(UInt8(ascii: "{"))
        if let id {
            writer.key("id")
            id.write(to: &writer)
            writer.byte(UInt8(ascii: ","))
        } else if type == .response {
            // A runtime error answer to a line whose id could not be read (SPEC section 2).
            writer.key("id")
            writer.raw("null".utf8)
            writer.byte(UInt8(ascii: ","))
        }
        writer.key("type")
        writer.string(type.rawValue)
        writer.byte(UInt8(ascii: ","))
        writer.key("from")
        writer.string(from)
        writer.byte(UInt8(ascii: ","))
        writer.key("to")
        writer.string(to)
        if let body {
            writer.byte(UInt8(ascii: ","))
            writer.key("body")
            body.write(to: &writer)
        }
        writer.byte(UInt8(ascii: "}"))
        do {
            return try Message.parse(writer.bytes)
        } catch {
            preconditionFailure("the runtime wrote an invalid message: \(error.reason)")
        }
    }

    /// Builds a response: `{"id", "type": "response", "from", "to", "body": {"code", "desc", "value"}}`.
    public static func response(
        id: MessageID?, from: String, to: String, code: Int, desc: String? = nil, value: JSONValue? = nil
    ) -> Message {
        var body: [(String, JSONValue)] = [("code", .int(Int64(code)))]
        if let desc { body.append(("desc", .string(desc))) }
        if let value { body.append(("value", value)) }
        return make(id: id, type: .response, from: from, to: to, body: .object(body))
    }

    /// A response to this request, `from` its destination and `to` its sender.
    public func response(code: Int, desc: String? = nil, value: JSONValue? = nil) -> Message {
        Message.response(id: id, from: to, to: from ?? "", code: code, desc: desc, value: value)
    }
}

extension MessageHead {
    /// Reads the head of the (possibly truncated) message line `prefix`: the routing fields the parser takes,
    /// as far as they come complete before the cut (an id running into the cut is not taken: 12 may be 1234).
    public static func scan(_ prefix: [UInt8]) -> MessageHead {
        var fields = Fields()
        prefix.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            scanner.skipWhitespace()
            guard scanner.peek() == UInt8(ascii: "{") else { return }
            // The cut ends the scan with a failure; what was taken before it stands.
            try? scanner.forEachMember { scanner, key, escaped throws(JSONScanner.Failure) in
                guard !escaped else { return false }
                return try fields.take(key: key, scanner: &scanner)
            }
        }
        return MessageHead(id: fields.id, type: fields.typeName, from: fields.from, to: fields.to)
    }
}

/// The routing fields found while scanning a message's top level.
private struct Fields {
    var id: MessageID?
    /// `"id": null`: what a runtime error answer carries when the request's id could not be read; in
    /// anything but a response it is refused (see ``Message/parse(_:)``).
    var idIsNull = false
    var typeName: String?
    var type: MessageType?
    var typeIsCanonical = true
    var from: String?
    var to: String?
    var resource: String?
    var code: Int?
    var descRange: Range<Int>?
    var descEscaped = false
    var via: [String] = []
    var bodyRange: Range<Int>?
    var valueRange: Range<Int>?
    var problem: String?
    /// The routing keys seen so far, one bit each: a duplicate is refused rather than silently picked.
    var seen: UInt8 = 0

    mutating func note(_ problem: String) {
        if self.problem == nil { self.problem = problem }
    }

    mutating func firstTime(_ key: StaticString, bit: UInt8) -> Bool {
        if seen & bit == 0 {
            seen |= bit
            return true
        }
        note("duplicate key \"\(key)\"")
        return false
    }

    /// Takes a top-level member the router needs; returns false to have any other member skipped.
    mutating func take(key: Range<Int>, scanner: inout JSONScanner) throws(JSONScanner.Failure) -> Bool {
        // Only keys of a routing field's length are compared (most keys of a message are none of them).
        switch key.count {
        case 2, 4, 8: break
        default: return false
        }
        if scanner.keyEquals(key, "id") {
            guard firstTime("id", bit: 1) else { return false }
            switch scanner.peek() {
            case UInt8(ascii: "\""):
                let scanned = try scanner.scanString()
                id = .string(scanner.decodeString(scanned.range, escaped: scanned.escaped))
            case UInt8(ascii: "n"):
                // Neither a request (which needs an id to be answered) nor clearly a notification: refused,
                // so that it cannot go unanswered (SPEC section 2; docs: a notification leaves "id" out).
                try scanner.scanLiteral("null")
                idIsNull = true
            default:
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                // The id counts only if the number ended where JSON says it does: in "007" the scanner stops
                // after the first 0, and the line is not JSON; its answer must not carry id 0.
                var after = scanner
                after.skipWhitespace()
                let terminated = after.peek() == UInt8(ascii: ",") || after.peek() == UInt8(ascii: "}")
                if let value = scanner.integer(in: start..<scanner.index), terminated {
                    id = .int(value)
                } else if terminated {
                    note("\"id\" must be an integer or a string")
                }
            }
            return true
        }
        if scanner.keyEquals(key, "type") {
            guard firstTime("type", bit: 2), scanner.peek() == UInt8(ascii: "\"") else {
                if problem == nil && typeName == nil { note("\"type\" must be a string") }
                return false
            }
            let scanned = try scanner.scanString()
            if !scanned.escaped, let known = MessageType.canonical(scanner, scanned.range) {
                typeName = known.rawValue
                type = known
                return true
            }
            let name = scanner.decodeString(scanned.range, escaped: scanned.escaped)
            typeName = name
            type = MessageType(rawValue: name) ?? MessageType(rawValue: name.lowercased())
            typeIsCanonical = type?.rawValue == name
            return true
        }
        if scanner.keyEquals(key, "from") {
            let taken = try takeAddress("from", bit: 4, scanner: &scanner)
            from = taken.value
            return taken.consumed
        }
        if scanner.keyEquals(key, "to") {
            let taken = try takeAddress("to", bit: 8, scanner: &scanner)
            to = taken.value
            return taken.consumed
        }
        if scanner.keyEquals(key, "resource") {
            let taken = try takeAddress("resource", bit: 16, scanner: &scanner)
            resource = taken.value
            return taken.consumed
        }
        if scanner.keyEquals(key, "body") {
            guard firstTime("body", bit: 32) else { return false }
            if scanner.peek() == UInt8(ascii: "n") {
                try scanner.scanLiteral("null")
                return true
            }
            guard scanner.peek() == UInt8(ascii: "{") else {
                note("\"body\" must be an object")
                return false
            }
            let start = scanner.index
            try scanner.forEachMember { scanner, key, escaped throws(JSONScanner.Failure) in
                guard !escaped else { return false }
                return try takeBody(key: key, scanner: &scanner)
            }
            bodyRange = start..<scanner.index
            return true
        }
        return false
    }

    /// An address member: a string, or null for none.
    private mutating func takeAddress(
        _ name: StaticString, bit: UInt8, scanner: inout JSONScanner
    ) throws(JSONScanner.Failure) -> (consumed: Bool, value: String?) {
        guard firstTime(name, bit: bit) else { return (false, nil) }
        if scanner.peek() == UInt8(ascii: "n") {
            try scanner.scanLiteral("null")
            return (true, nil)
        }
        guard scanner.peek() == UInt8(ascii: "\"") else {
            note("\"\(name)\" must be a string")
            return (false, nil)
        }
        let scanned = try scanner.scanString()
        return (true, scanner.decodeString(scanned.range, escaped: scanned.escaped))
    }

    private mutating func takeBody(key: Range<Int>, scanner: inout JSONScanner) throws(JSONScanner.Failure) -> Bool {
        switch key.count {
        case 3, 4, 5, 11: break
        default: return false
        }
        if scanner.keyEquals(key, "code") {
            let start = scanner.index
            try scanner.skipValue(depth: 2)
            code = scanner.integer(in: start..<scanner.index).map { Int($0) }
            return true
        }
        if scanner.keyEquals(key, "desc") || scanner.keyEquals(key, "description") {
            guard scanner.peek() == UInt8(ascii: "\"") else { return false }
            let scanned = try scanner.scanString()
            if descRange == nil || scanner.keyEquals(key, "desc") {
                descRange = scanned.range
                descEscaped = scanned.escaped
            }
            return true
        }
        if scanner.keyEquals(key, "value") {
            valueRange = try scanner.skipValue(depth: 2)
            return true
        }
        if scanner.keyEquals(key, "via") {
            let start = scanner.index
            let range = try scanner.skipValue(depth: 2)
            let value = try JSONScanner(UnsafeBufferPointer(rebasing: scanner.bytes[start..<range.upperBound]))
                .parseValueCopy()
            switch value {
            case .string(let url): via = [url]
            case .array(let urls): via = urls.compactMap(\.stringValue)
            default: break
            }
            return true
        }
        return false
    }
}

extension MessageType {
    /// Every type's lowercase name packed into one word (names are at most 11 bytes, see `packed`), built once
    /// from `allCases` so that the match below needs no second list of names and no string.
    private static let packedNames: [(name: UInt128, type: MessageType)] = allCases.map {
        var name = $0.rawValue
        return (name.withUTF8 { packed($0)! }, $0)
    }

    /// The type whose lowercase name is exactly `bytes[range]`: the common case, matched on one word. Comparing
    /// each `rawValue` as a string cost 2% of the daemon's CPU on the bus's hot path (perf, pinned round trips).
    static func canonical(_ scanner: JSONScanner, _ range: Range<Int>) -> MessageType? {
        guard let name = packed(UnsafeBufferPointer(rebasing: scanner.bytes[range])) else { return nil }
        for entry in packedNames where entry.name == name { return entry.type }
        return nil
    }

    /// Up to 15 bytes and their count in one word; nil for anything longer (no type name is).
    private static func packed(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt128? {
        guard bytes.count < 16 else { return nil }
        var word = UInt128(bytes.count) << 120
        for (index, byte) in bytes.enumerated() { word |= UInt128(byte) << (index * 8) }
        return word
    }
}

extension JSONScanner {
    /// Parses the single value this scanner starts at.
    func parseValueCopy() throws(Failure) -> JSONValue {
        var copy = self
        return try copy.parseValue(depth: 1)
    }
}
