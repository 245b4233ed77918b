/// The key the Registry resolves a `to` address by: one stub per domain key (SPEC section 3).
///
/// reTHINK schemes (`hyperty`, `user`, `domain`, ...) map to their host without a leading `msg-node.` or
/// `registry.`; any other scheme is a legacy network and maps to `<scheme>.<host>`, so
/// `xmpp://chat.example/alice@chat.example` is served by the stub of `xmpp.chat.example`.
public struct DomainKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String

    public static let reThinkSchemes: Set<String> = [
        "hyperty", "user", "domain", "hyperty-runtime", "runtime", "global", "comm", "context",
    ]

    public var description: String { value }

    public static func < (lhs: DomainKey, rhs: DomainKey) -> Bool { lhs.value < rhs.value }

    /// A key from a name such as `acme.example`, if it is a lowercase DNS name.
    public init?(_ name: String) {
        guard DomainKey.isDNSName(name) else { return nil }
        value = name
    }

    /// The key of an address, or nil when the address has no scheme and host or the key is not a DNS name.
    public init?(address: String) {
        guard let parts = DomainKey.schemeAndHost(of: address) else { return nil }
        var host = parts.host
        let key: String
        if DomainKey.reThinkSchemes.contains(parts.scheme) {
            for prefix in ["msg-node.", "registry."] where host.hasPrefix(prefix) {
                host.removeFirst(prefix.count)
                break
            }
            key = host
        } else {
            key = "\(parts.scheme).\(host)"
        }
        self.init(key)
    }

    static func schemeAndHost(of address: String) -> (scheme: String, host: String)? {
        guard let separator = address.firstRange(of: "://") else { return nil }
        let scheme = address[..<separator.lowerBound].lowercased()
        guard !scheme.isEmpty,
            scheme.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else { return nil }
        var authority = address[separator.upperBound...]
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            authority = authority[..<end]
        }
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        if let colon = authority.lastIndex(of: ":") {
            authority = authority[..<colon]
        }
        let host = authority.lowercased()
        guard !host.isEmpty else { return nil }
        return (scheme, host)
    }

    static func isDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-" else { return false }
            guard label.utf8.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    private static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        isLowerAlnum(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
