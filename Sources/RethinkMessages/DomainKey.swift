/// The key the Registry resolves a `to` address by: one stub per domain key (SPEC section 3).
///
/// reTHINK schemes (`hyperty`, `user`, `domain`, ...) map to their host without a leading `msg-node.` or
/// `registry.`; any other scheme is a legacy network and maps to `<scheme>.<host>`, so
/// `xmpp://chat.example/alice@chat.example` is served by the stub of `xmpp.chat.example`.
///
/// It hashes its name once, when made: a stub's port keeps its key, and the bus looks routes up by it for every
/// message the stub writes.
public struct DomainKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String
    private let digest: Int

    public static func == (lhs: DomainKey, rhs: DomainKey) -> Bool { lhs.digest == rhs.digest && lhs.value == rhs.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(digest) }
    /// The table's hash without running a `Hasher` per lookup: see `HashDigest.mixed(_:seed:)`.
    public func _rawHashValue(seed: Int) -> Int { HashDigest.mixed(digest, seed: seed) }

    private init(checked name: String) {
        value = name
        digest = name.hashValue
    }

    public static let reThinkSchemes: Set<String> = [
        "hyperty", "user", "domain", "hyperty-runtime", "runtime", "global", "comm", "context",
    ]

    public var description: String { value }

    public static func < (lhs: DomainKey, rhs: DomainKey) -> Bool { lhs.value < rhs.value }

    /// A key from a name such as `acme.example`, if it is a lowercase DNS name.
    public init?(_ name: String) {
        guard DomainKey.isDNSName(name) else { return nil }
        self.init(checked: name)
    }

    /// The key of an address, or nil when the address has no scheme and host or the key is not a DNS name.
    /// Works on the UTF-8 bytes: it runs for every routed request and every stub message.
    public init?(address: String) {
        var address = address
        guard let key = address.withUTF8({ DomainKey.key(of: $0) }) else { return nil }
        self.init(checked: key)
    }

    private static let reThinkSchemeBytes: [[UInt8]] = reThinkSchemes.map { Array($0.utf8) }

    /// Allocates only the key's own string: this runs for every routed request and every stub message, and
    /// the scratch arrays it used to build were a fifth of its cost (docs/BENCHMARK.md).
    private static func key(of bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let count = bytes.count
        var schemeEnd = 0
        while schemeEnd + 2 < count,
            !(bytes[schemeEnd] == UInt8(ascii: ":") && bytes[schemeEnd + 1] == UInt8(ascii: "/")
                && bytes[schemeEnd + 2] == UInt8(ascii: "/"))
        {
            guard isSchemeByte(bytes[schemeEnd]) else { return nil }
            schemeEnd += 1
        }
        guard schemeEnd > 0, schemeEnd + 2 < count else { return nil }
        var start = schemeEnd + 3
        var end = start
        while end < count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"),
            bytes[end] != UInt8(ascii: "#")
        {
            end += 1
        }
        if let at = (start..<end).last(where: { bytes[$0] == UInt8(ascii: "@") }) { start = at + 1 }
        if let colon = (start..<end).last(where: { bytes[$0] == UInt8(ascii: ":") }) { end = colon }
        guard start < end else { return nil }
        let isReThink = reThinkSchemeBytes.contains { scheme in
            scheme.count == schemeEnd && (0..<schemeEnd).allSatisfy { lower(bytes[$0]) == scheme[$0] }
        }
        if isReThink {
            for prefix: StaticString in ["msg-node.", "registry."] where hasPrefix(bytes, start..<end, prefix) {
                start += prefix.utf8CodeUnitCount
                break
            }
        }
        let schemePart = isReThink ? 0 : schemeEnd + 1
        var valid = true
        let key = String(unsafeUninitializedCapacity: schemePart + end - start) { key in
            var length = 0
            if !isReThink {
                for index in 0..<schemeEnd { key[index] = lower(bytes[index]) }
                key[schemeEnd] = UInt8(ascii: ".")
                length = schemePart
            }
            for index in start..<end {
                key[length] = lower(bytes[index])
                length += 1
            }
            valid = isDNSName(UnsafeBufferPointer(rebasing: key[0..<length]))
            return length
        }
        return valid ? key : nil
    }

    /// Whether `bytes[range]` starts with `prefix` in any case and goes on after it.
    private static func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ prefix: StaticString)
        -> Bool
    {
        let length = prefix.utf8CodeUnitCount
        guard range.count > length else { return false }
        let start = prefix.utf8Start
        return (0..<length).allSatisfy { lower(bytes[range.lowerBound + $0]) == start[$0] }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        isAlnum(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    static func isDNSName(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isDNSName($0) }
    }

    static func isDNSName(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        var labelStart = 0
        for index in 0...bytes.count {
            guard index == bytes.count || bytes[index] == UInt8(ascii: ".") else {
                guard isLowerAlnum(bytes[index]) || bytes[index] == UInt8(ascii: "-") else { return false }
                continue
            }
            let length = index - labelStart
            guard length > 0, length <= 63, bytes[labelStart] != UInt8(ascii: "-"),
                bytes[index - 1] != UInt8(ascii: "-")
            else {
                return false
            }
            labelStart = index + 1
        }
        return true
    }

    private static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        isLowerAlnum(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
