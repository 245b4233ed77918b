/// `metricsListen`: a loopback TCP address for the metrics. Only loopback: the metrics name the domains this
/// host talks to, and the TCP endpoint has no peer check (the unix socket has one).
public struct MetricsAddress: Sendable, Equatable {
    public let host: String
    public let port: Int

    public init(parsing text: String) throws(ConfigurationError) {
        let (host, colon, port) = text.rpartition(":")
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard colon, let number = Int(port), (1...65_535).contains(number) else {
            throw ConfigurationError("metricsListen \"\(text)\" must be host:port, e.g. 127.0.0.1:9464")
        }
        guard bare == "localhost" || bare == "::1" || bare.hasPrefix("127.") else {
            throw ConfigurationError(
                "metricsListen \"\(text)\": only a loopback address (127.0.0.1, ::1) may serve the metrics over TCP")
        }
        self.host = bare
        self.port = number
    }
}

extension String {
    /// The parts around the last `separator`: (before, found, after).
    fileprivate func rpartition(_ separator: Character) -> (String, Bool, String) {
        guard let index = lastIndex(of: separator) else { return (self, false, "") }
        return (String(self[..<index]), true, String(self[index...].dropFirst()))
    }
}
