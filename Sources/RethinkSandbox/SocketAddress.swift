import Glibc

/// A `struct sockaddr` copied out of a stub, read without trusting it: family, and for IPv4/IPv6 the
/// address and port. Anything short or unknown has no ``ip``.
struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    let family: Int32
    let ip: IPAddress?
    let port: UInt16?
    /// For AF_UNIX: the path (or `@name` for an abstract socket), for the log.
    let unixPath: String?

    init(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else {
            family = -1
            ip = nil
            port = nil
            unixPath = nil
            return
        }
        family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        let port = bytes.count >= 4 ? UInt16(bytes[2]) << 8 | UInt16(bytes[3]) : nil
        switch family {
        case AF_INET where bytes.count >= 8:
            ip = IPAddress(family: AF_INET, bytes: Array(bytes[4..<8]))
            self.port = port
            unixPath = nil
        case AF_INET6 where bytes.count >= 24:
            ip = IPAddress(family: AF_INET6, bytes: Array(bytes[8..<24]))
            self.port = port
            unixPath = nil
        case AF_UNIX:
            ip = nil
            self.port = nil
            let path = bytes.dropFirst(2)
            if path.first == 0 {
                unixPath = "@" + String(decoding: path.dropFirst().prefix { $0 != 0 }, as: UTF8.self)
            } else {
                unixPath = String(decoding: path.prefix { $0 != 0 }, as: UTF8.self)
            }
        default:
            ip = nil
            self.port = nil
            unixPath = nil
        }
    }

    var description: String {
        if let ip, let port { return ip.isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
        if let unixPath { return "unix socket \(unixPath)" }
        return "an address of family \(family)"
    }
}

/// Name lookups by the daemon for its stubs' policies (blocking: called on a Dispatch queue).
enum NameLookup {
    /// Every address `name` resolves to (A and AAAA), or none.
    static func addresses(of name: String) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let current = entry {
            if let raw = current.pointee.ai_addr {
                let bytes = Array(UnsafeRawBufferPointer(start: raw, count: Int(current.pointee.ai_addrlen)))
                if let ip = SocketAddress(bytes).ip, !addresses.contains(ip) { addresses.append(ip) }
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    /// The name `address` resolves back to, kept only when that name resolves to `address` again
    /// (forward-confirmed reverse DNS), so a forged PTR record alone does not match a `*.suffix` entry.
    static func confirmedNames(of address: IPAddress) -> [String] {
        var storage = sockaddr_storage()
        let length: socklen_t
        if address.family == AF_INET {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: address.bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: v4) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: address.bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: v6) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        var host = [CChar](repeating: 0, count: 1025)
        let result = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
            }
        }
        guard result == 0 else { return [] }
        let name = String(cString: host).lowercased()
        return addresses(of: name).contains(where: { $0.unmapped == address.unmapped }) ? [name] : []
    }
}
