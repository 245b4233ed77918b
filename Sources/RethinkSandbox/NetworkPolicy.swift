import Glibc

/// Where a stub may reach on the network (SPEC sections 7 and 9): TCP destinations (`connect`),
/// UDP destinations (`datagram`), and the system's DNS resolvers, always. Nothing else: no unix
/// socket outside its pipes, no raw or packet socket.
///
/// The decision is made by the daemon (``NetworkSupervisor``) on its own copy of the address, which
/// the stub cannot change afterwards; names are resolved by the daemon, so a stub that resolved a
/// name differently (its own DNS, a forged /etc/hosts) gains nothing.
public struct NetworkPolicy: Sendable, Equatable {
    public var connect: [NetworkDestination]
    public var datagram: [NetworkDestination]
    /// The resolvers of /etc/resolv.conf, reachable on port 53 over UDP and TCP.
    public var resolvers: [IPAddress]

    public init(connect: [NetworkDestination] = [], datagram: [NetworkDestination] = [], resolvers: [IPAddress] = []) {
        self.connect = connect
        self.datagram = datagram
        self.resolvers = resolvers
    }

    /// How many rules a stub runs under, for `rethinkctl stubs`.
    public var ruleCount: Int { connect.count + datagram.count }

    /// The resolvers named in `/etc/resolv.conf` (`nameserver` lines); 127.0.0.1 when there are none,
    /// as glibc assumes.
    public static func systemResolvers(resolvConf path: String = "/etc/resolv.conf") -> [IPAddress] {
        guard let file = fopen(path, "r") else { return [IPAddress("127.0.0.1")!] }
        defer { fclose(file) }
        var resolvers: [IPAddress] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let words = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            if words.count >= 2, words[0] == "nameserver", let address = IPAddress(String(words[1])) {
                resolvers.append(address)
            }
        }
        return resolvers.isEmpty ? [IPAddress("127.0.0.1")!] : resolvers
    }
}

/// One `"host:port"` entry of `constraints.connect` or `constraints.datagram`.
public struct NetworkDestination: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case address(IPAddress)
        /// A DNS name, resolved by the daemon.
        case name(String)
        /// `*.suffix`: any name ending in `.suffix`, matched on the name the address resolves back to
        /// (and that name resolving to the address again).
        case suffix(String)
    }

    public let host: Host
    public let ports: ClosedRange<UInt16>

    public init(host: Host, ports: ClosedRange<UInt16>) {
        self.host = host
        self.ports = ports
    }

    /// Parses `host:port`, `host:lo-hi`, `[v6]:port`, `*.suffix:port`.
    public init(parsing text: String) throws(NetworkDestinationError) {
        let trimmed = text.trimmingWhitespace
        let hostPart: Substring
        let portPart: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"), trimmed[trimmed.index(after: close)...].hasPrefix(":")
            else { throw NetworkDestinationError(text, "an IPv6 address goes in brackets: \"[::1]:53\"") }
            hostPart = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            portPart = trimmed[trimmed.index(close, offsetBy: 2)...]
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else {
                throw NetworkDestinationError(text, "it needs a port: \"host:port\" or \"host:lo-hi\"")
            }
            hostPart = trimmed[..<colon]
            portPart = trimmed[trimmed.index(after: colon)...]
        }
        let portBounds = portPart.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(portBounds.count), let low = UInt16(portBounds[0]),
            let high = UInt16(portBounds.last!), low >= 1, low <= high
        else { throw NetworkDestinationError(text, "the port must be a number 1-65535 or a range \"lo-hi\"") }
        ports = low...high
        let name = hostPart.lowercased()
        if let address = IPAddress(name) {
            host = .address(address)
        } else if name.hasPrefix("*.") {
            let suffix = String(name.dropFirst(2))
            guard NetworkDestination.isDNSName(suffix) else {
                throw NetworkDestinationError(text, "\"*.\" must be followed by a DNS name")
            }
            host = .suffix(suffix)
        } else {
            guard NetworkDestination.isDNSName(name) else {
                throw NetworkDestinationError(text, "the host must be a DNS name, an IP address or \"*.suffix\"")
            }
            host = .name(name)
        }
    }

    public var description: String {
        let portText = ports.lowerBound == ports.upperBound ? "\(ports.lowerBound)" : "\(ports.lowerBound)-\(ports.upperBound)"
        switch host {
        case .address(let address): return address.isIPv6 ? "[\(address)]:\(portText)" : "\(address):\(portText)"
        case .name(let name): return "\(name):\(portText)"
        case .suffix(let suffix): return "*.\(suffix):\(portText)"
        }
    }

    static func isDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
        }
    }
}

/// A `constraints` entry that is not a destination; the message says how to write one.
public struct NetworkDestinationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    init(_ entry: String, _ problem: String) { message = "\"\(entry)\" is not a network destination: \(problem)" }
    public var description: String { message }
}

extension String {
    var trimmingWhitespace: Substring {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
