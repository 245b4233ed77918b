/// A decoded JSON value, for the places that do need to look inside a body: runtime-local requests
/// (subscribe lists, `ua` domains), clients and tests. Objects keep their member order.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9e18: return Int64(value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [(String, JSONValue)]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Decodes a complete JSON text.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws -> JSONValue where Bytes.Element == UInt8 {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws -> JSONValue in
            var scanner = JSONScanner(buffer)
            do throws(JSONScanner.Failure) {
                let value = try scanner.parseValue(depth: 0)
                scanner.skipWhitespace()
                guard scanner.atEnd else { throw JSONScanner.Failure(reason: "trailing bytes after the value") }
                return value
            } catch {
                throw JSONValueError(reason: error.reason)
            }
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// The compact JSON text of this value.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }

    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.raw("null".utf8)
        case .bool(let value): writer.raw((value ? "true" : "false").utf8)
        case .int(let value): writer.integer(value)
        case .double(let value):
            if value.isFinite { writer.raw(String(value).utf8) } else { writer.raw("null".utf8) }
        case .string(let value): writer.string(value)
        case .array(let values):
            writer.byte(UInt8(ascii: "["))
            for (offset, value) in values.enumerated() {
                if offset > 0 { writer.byte(UInt8(ascii: ",")) }
                value.write(to: &writer)
            }
            writer.byte(UInt8(ascii: "]"))
        case .object(let members):
            writer.byte(UInt8(ascii: "{"))
            for (offset, member) in members.enumerated() {
                if offset > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.key(member.0)
                member.1.write(to: &writer)
            }
            writer.byte(UInt8(ascii: "}"))
        }
    }
}

/// A JSON text that could not be decoded.
public struct JSONValueError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "invalid JSON: \(reason)" }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONScanner {
    mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
        skipWhitespace()
        guard depth < JSONScanner.maxDepth else { throw Failure(reason: "nesting deeper than \(JSONScanner.maxDepth)") }
        guard let byte = peek() else { throw Failure(reason: "unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            var members: [(String, JSONValue)] = []
            try forEachMember { scanner, key, escaped throws(Failure) in
                let name = scanner.decodeString(key, escaped: escaped)
                members.append((name, try scanner.parseValue(depth: depth + 1)))
                return true
            }
            return .object(members)
        case UInt8(ascii: "["):
            index += 1
            var values: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return .array(values)
            }
            while true {
                values.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"), "']' or ','")
                return .array(values)
            }
        case UInt8(ascii: "\""):
            let scanned = try scanString()
            return .string(decodeString(scanned.range, escaped: scanned.escaped))
        case UInt8(ascii: "t"):
            try scanLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try scanLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try scanLiteral("null")
            return .null
        default:
            let number = try scanNumber()
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[number.range]), as: UTF8.self)
            if number.isInteger, let value = Int64(text) { return .int(value) }
            return .double(Double(text) ?? 0)
        }
    }
}
