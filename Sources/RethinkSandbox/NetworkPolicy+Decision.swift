/// The transport a destination is checked for: `connect` entries are TCP, `datagram` entries UDP.
public enum NetworkTransport: String, Sendable {
    case tcp, udp
}

extension NetworkPolicy {
    /// What the policy says about one destination.
    public enum Decision: Sendable, Equatable {
        case allow
        case deny
        /// Only names (or `*.suffix` entries) could allow it: resolve these, then decide again.
        case resolve(names: [String], suffixes: [String])
    }

    /// Decides `address:port` over `transport`, given what the daemon has resolved so far
    /// (`resolved[name]`) and the names the address is known to resolve back to (`reverse`).
    public func decide(
        _ address: IPAddress, port: UInt16, transport: NetworkTransport, resolved: [String: [IPAddress]] = [:],
        reverse: [String]? = nil
    ) -> Decision {
        let address = address.unmapped
        if port == 53, resolvers.contains(where: { $0.unmapped == address }) { return .allow }
        var names: [String] = []
        var suffixes: [String] = []
        for destination in transport == .tcp ? connect : datagram where destination.ports.contains(port) {
            switch destination.host {
            case .address(let allowed):
                if allowed.unmapped == address { return .allow }
            case .name(let name):
                if let addresses = resolved[name] {
                    if addresses.contains(where: { $0.unmapped == address }) { return .allow }
                } else {
                    names.append(name)
                }
            case .suffix(let suffix):
                if let reverse {
                    if reverse.contains(where: { $0 == suffix || $0.hasSuffix("." + suffix) }) { return .allow }
                } else {
                    suffixes.append(suffix)
                }
            }
        }
        return names.isEmpty && suffixes.isEmpty ? .deny : .resolve(names: names, suffixes: suffixes)
    }
}
