/// The runtime's own addresses (SPEC section 3): everything under the runtime URL is runtime-local.
public struct RuntimeAddresses: Sendable {
    /// `hyperty-runtime://<runtime-domain>/<runtime-id>`
    public let runtimeURL: String

    public init(runtimeDomain: String, runtimeID: String) {
        runtimeURL = "hyperty-runtime://\(runtimeDomain)/\(runtimeID)"
    }

    public var registry: String { runtimeURL + "/registry" }
    public var ua: String { runtimeURL + "/ua" }
    public var bus: String { runtimeURL + "/bus" }
    public var status: String { runtimeURL + "/status" }
    /// Where an operator's `rethinkctl monitor` subscribes to watch what the bus routes.
    public var monitor: String { runtimeURL + "/monitor" }

    public func client(_ number: Int) -> String { runtimeURL + "/client/\(number)" }

    /// Whether `address` is the runtime URL or below it.
    public func isRuntimeLocal(_ address: String) -> Bool {
        address.hasPrefix(runtimeURL)
            && (address.utf8.count == runtimeURL.utf8.count || address.dropFirst(runtimeURL.count).first == "/")
    }

    /// `hyperty-runtime://<domain-key>/protostub/<n>`
    public static func stubURL(domain: DomainKey, number: Int) -> String {
        "hyperty-runtime://\(domain.value)/protostub/\(number)"
    }

    /// The stub URL whose status resource `address` is (`<stubURL>/status`), if it is one.
    public static func stubURL(ofStatusResource address: String) -> String? {
        guard address.hasPrefix("hyperty-runtime://"), address.hasSuffix("/status") else { return nil }
        let stub = address.dropLast("/status".count)
        guard let marker = stub.firstRange(of: "/protostub/"), !stub[marker.upperBound...].isEmpty else { return nil }
        return String(stub)
    }

    /// Whether `address` is a protostub URL (`hyperty-runtime://<key>/protostub/<n>`, or below one): an
    /// address no stub but that one may send from.
    public static func isStubAddress(_ address: String) -> Bool {
        guard address.hasPrefix("hyperty-runtime://") else { return false }
        let rest = address.dropFirst("hyperty-runtime://".count)
        guard let slash = rest.firstIndex(of: "/") else { return false }
        return rest[slash...].hasPrefix("/protostub/")
    }

    /// The deploy handshake's fixed addresses (SPEC section 6).
    public static let sandboxExternal = "hyperty-runtime://sandbox/external"
    public static let sandboxInternal = "hyperty-runtime://sandbox/internal"
}
