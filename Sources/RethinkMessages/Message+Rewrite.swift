extension Message {
    /// A copy with `from` set, `type` written lowercase and, optionally, a stub URL appended to `body.via`.
    /// Every other member keeps its original bytes.
    public func rewritten(from newFrom: String? = nil, appendingVia stubURL: String? = nil) -> Message {
        var writer = JSONWriter(capacity: bytes.count + 96)
        var wroteFrom = false
        var wroteBody = false
        var first = true
        writer.byte(UInt8(ascii: "{"))
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            try? scanner.forEachMember { scanner, key, escaped throws(JSONScanner.Failure) in
                let valueRange = try scanner.skipValue(depth: 1)
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                if !escaped, let newFrom, scanner.keyEquals(key, "from") {
                    writer.key("from")
                    writer.string(newFrom)
                    wroteFrom = true
                } else if !escaped, scanner.keyEquals(key, "type") {
                    writer.key("type")
                    writer.string(type.rawValue)
                } else if !escaped, let stubURL, scanner.keyEquals(key, "body"), bodyRange != nil {
                    writer.key("body")
                    writeBody(appending: stubURL, scanner: scanner, to: &writer)
                    wroteBody = true
                } else {
                    writer.raw(buffer[(key.lowerBound - 1)..<(key.upperBound + 1)])
                    writer.byte(UInt8(ascii: ":"))
                    writer.raw(buffer[valueRange])
                }
                return true
            }
        }
        if let newFrom, !wroteFrom {
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.key("from")
            writer.string(newFrom)
        }
        if let stubURL, !wroteBody {
            if !first { writer.byte(UInt8(ascii: ",")) }
            writer.key("body")
            JSONValue.object([("via", .array([.string(stubURL)]))]).write(to: &writer)
        }
        writer.byte(UInt8(ascii: "}"))
        return (try? Message.parse(writer.bytes)) ?? self
    }

    private func writeBody(appending stubURL: String, scanner: JSONScanner, to writer: inout JSONWriter) {
        guard let bodyRange else { return }
        var first = true
        writer.byte(UInt8(ascii: "{"))
        var bodyScanner = JSONScanner(scanner.bytes)
        bodyScanner.index = bodyRange.lowerBound
        try? bodyScanner.forEachMember { scanner, key, escaped throws(JSONScanner.Failure) in
            let valueRange = try scanner.skipValue(depth: 2)
            if !escaped, scanner.keyEquals(key, "via") { return true }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.raw(scanner.bytes[(key.lowerBound - 1)..<(key.upperBound + 1)])
            writer.byte(UInt8(ascii: ":"))
            writer.raw(scanner.bytes[valueRange])
            return true
        }
        if !first { writer.byte(UInt8(ascii: ",")) }
        writer.key("via")
        JSONValue.array((via + [stubURL]).map { .string($0) }).write(to: &writer)
        writer.byte(UInt8(ascii: "}"))
    }

    /// Whether the message needs rewriting before it goes on: its `type` was not written lowercase.
    public var needsCanonicalType: Bool { !typeIsCanonical }
}
