import Glibc

/// An IPv4 or IPv6 address, as the kernel holds it in a `sockaddr` (network byte order).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// AF_INET or AF_INET6.
    public let family: Int32
    /// 4 or 16 bytes.
    public let bytes: [UInt8]

    public init?(family: Int32, bytes: [UInt8]) {
        guard (family == AF_INET && bytes.count == 4) || (family == AF_INET6 && bytes.count == 16) else { return nil }
        self.family = family
        self.bytes = bytes
    }

    /// Parses a literal (`127.0.0.1`, `::1`); nil for anything else, names included.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(family: AF_INET, bytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self.init(family: AF_INET6, bytes: withUnsafeBytes(of: &v6) { Array($0) })
    }

    public var isIPv6: Bool { family == AF_INET6 }

    /// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it stands for.
    public var unmapped: IPAddress {
        guard family == AF_INET6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else {
            return self
        }
        return IPAddress(family: AF_INET, bytes: Array(bytes[12...]))!
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return bytes.withUnsafeBytes { raw in
            guard inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
            return String(cString: buffer)
        }
    }
}
