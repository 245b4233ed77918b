import CRethinkScan

/// A validating JSON scanner over UTF-8 bytes that records where values are instead of decoding them.
///
/// Why hand-written: the router forwards message bodies unchanged, and Foundation's decoders (45-110k msg/s
/// here) would make the body decode the bottleneck. This scanner checks the syntax of the whole line and
/// decodes only the few top-level strings the router needs.
struct JSONScanner {
    struct Failure: Error {
        let reason: String
    }

    static let maxDepth = 128

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else {
            throw Failure(reason: "expected \(what) at byte \(index)")
        }
        index += 1
    }

    /// Scans a string at the current `"`; returns the range of its content and whether it holds escapes.
    mutating func scanString() throws(Failure) -> (range: Range<Int>, escaped: Bool) {
        guard peek() == UInt8(ascii: "\"") else { throw Failure(reason: "expected a string at byte \(index)") }
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            skipPlainBytes()
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return (start..<index, escaped)
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 1
                guard index < bytes.count else { break }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    try scanUnicodeEscape()
                default:
                    throw Failure(reason: "bad escape at byte \(index)")
                }
                continue
            }
            if byte < 0x20 { throw Failure(reason: "control character in string at byte \(index)") }
            if byte >= 0x80 {
                // Every line is UTF-8 (SPEC section 5): what the router forwards unchanged must be, too.
                guard let length = utf8SequenceLength(at: index) else {
                    throw Failure(reason: "invalid UTF-8 in a string at byte \(index)")
                }
                index += length
                continue
            }
            index += 1
        }
        throw Failure(reason: "unterminated string")
    }

    /// Skips string bytes that need no look: printable ASCII other than `"` and `\\`, sixteen at a time (in C,
    /// see `rt_json_plain_run`). Bodies are mostly such runs, and scanning them was the largest single cost of
    /// routing in the profile (docs/BENCHMARK.md, issue 13). Leaves `index` at the first byte the caller must
    /// examine.
    @inline(__always)
    private mutating func skipPlainBytes() {
        guard let base = bytes.baseAddress, index < bytes.count else { return }
        index += rt_json_plain_run(base + index, bytes.count - index)
    }

    /// At the `u` of a `\\u` escape: four hex digits, and a high surrogate only with its low one after it
    /// (a lone surrogate is not a character, and UTF-8 has no encoding for it).
    private mutating func scanUnicodeEscape() throws(Failure) {
        let at = index - 1
        guard let value = hex4(after: index) else { throw Failure(reason: "bad \\u escape at byte \(at)") }
        index += 5
        switch value {
        case 0xD800..<0xDC00:
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                let low = hex4(after: index + 1), (0xDC00..<0xE000).contains(low)
            else { throw Failure(reason: "lone surrogate \\u escape at byte \(at)") }
            index += 6
        case 0xDC00..<0xE000:
            throw Failure(reason: "lone surrogate \\u escape at byte \(at)")
        default:
            break
        }
    }

    /// The four hex digits after position `u`, if they are there.
    private func hex4(after u: Int) -> UInt32? {
        guard u + 4 < bytes.count else { return nil }
        var value: UInt32 = 0
        for offset in 1...4 {
            guard let digit = JSONScanner.hexValue(bytes[u + offset]) else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
    /// U+10FFFF) starting at `position`, or nil.
    private func utf8SequenceLength(at position: Int) -> Int? {
        let lead = bytes[position]
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: length = 4
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: return nil
        }
        guard position + length <= bytes.count, second.contains(bytes[position + 1]) else { return nil }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[position + offset]) { return nil }
        return length
    }

    /// Decodes the content of a string scanned by `scanString`.
    func decodeString(_ range: Range<Int>, escaped: Bool) -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        if !escaped { return String(decoding: slice, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var position = range.lowerBound
        while position < range.upperBound {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                position += 1
                continue
            }
            let code = bytes[position + 1]
            position += 2
            switch code {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = readHex4(at: position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar), position + 5 < range.upperBound,
                    bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                {
                    let low = readHex4(at: position + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        position += 6
                    }
                }
                let unicode = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default: out.append(code)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func readHex4(at position: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            value = value << 4 | UInt32(JSONScanner.hexValue(bytes[position + offset]) ?? 0)
        }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Scans a number per the JSON grammar; returns its range and whether it is an integer.
    mutating func scanNumber() throws(Failure) -> (range: Range<Int>, isInteger: Bool) {
        let start = index
        var isInteger = true
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw Failure(reason: "bad number at byte \(start)") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard let byte = peek(), isDigit(byte) else { throw Failure(reason: "bad number at byte \(start)") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if let byte = peek(), byte | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { throw Failure(reason: "bad number at byte \(start)") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        return (start..<index, isInteger)
    }

    /// The integer `bytes[range]` spells (an optional `-` and decimal digits, nothing else), if it fits an
    /// Int64: what `Int64(String)` answers, without making the string (ids and codes, on every message).
    func integer(in range: Range<Int>) -> Int64? {
        var position = range.lowerBound
        let negative = position < range.upperBound && bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < range.upperBound else { return nil }
        var value: Int64 = 0
        while position < range.upperBound {
            let byte = bytes[position]
            guard isDigit(byte) else { return nil }
            let digit = Int64(byte &- UInt8(ascii: "0"))
            let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowAdd) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflowTimes, !overflowAdd else { return nil }
            value = next
            position += 1
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    mutating func scanLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Failure(reason: "bad literal at byte \(index)") }
        let pointer = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != pointer[offset] {
            throw Failure(reason: "bad literal at byte \(index)")
        }
        index += count
    }

    /// Skips one value of any kind, checking its syntax; returns its range.
    @discardableResult
    mutating func skipValue(depth: Int = 0) throws(Failure) -> Range<Int> {
        skipWhitespace()
        guard depth < JSONScanner.maxDepth else { throw Failure(reason: "nesting deeper than \(JSONScanner.maxDepth)") }
        let start = index
        guard let byte = peek() else { throw Failure(reason: "unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return start..<index
            }
            while true {
                skipWhitespace()
                _ = try scanString()
                try expect(UInt8(ascii: ":"), "':'")
                try skipValue(depth: depth + 1)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "'}' or ','")
                return start..<index
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return start..<index
            }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"), "']' or ','")
                return start..<index
            }
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "t"):
            try scanLiteral("true")
        case UInt8(ascii: "f"):
            try scanLiteral("false")
        case UInt8(ascii: "n"):
            try scanLiteral("null")
        default:
            _ = try scanNumber()
        }
        return start..<index
    }

    /// Visits the members of the object at the current position, handing each key and the value's range.
    /// The visitor is at the value's first byte and must leave `index` after the value (or return false to
    /// have it skipped).
    mutating func forEachMember(
        _ visit: (inout JSONScanner, _ key: Range<Int>, _ escaped: Bool) throws(Failure) -> Bool
    ) throws(Failure) {
        try expect(UInt8(ascii: "{"), "an object")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            let key = try scanString()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            if try !visit(&self, key.range, key.escaped) {
                try skipValue(depth: 1)
            }
            skipWhitespace()
            if peek() == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(UInt8(ascii: "}"), "'}' or ','")
            return
        }
    }

    func keyEquals(_ key: Range<Int>, _ name: StaticString) -> Bool {
        guard key.count == name.utf8CodeUnitCount else { return false }
        let pointer = name.utf8Start
        var offset = 0
        for position in key {
            if bytes[position] != pointer[offset] { return false }
            offset += 1
        }
        return true
    }
}
