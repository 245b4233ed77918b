/// What the daemon asks of `rethink-fetch`: one GET, as one JSON line on the fetcher's stdin.
///
/// The fetcher is a process of its own so that the daemon never parses TLS or HTTP from a server a
/// message named: the HTTP client and its TLS library run under the stub sandbox, with a network policy
/// that lets them reach this one host, and what they bring back is verified by the daemon (digest and
/// signature) before anything runs it. The daemon checks the URL against its HTTPS policy before asking.
public struct FetchRequest: Codable, Sendable, Equatable {
    /// The URL to GET (no redirect is followed: the daemon checks each hop and asks again).
    public var url: String
    /// The largest body accepted, in bytes; a larger one is `tooLarge`.
    public var limit: Int
    /// How long the connection may take to be established.
    public var connectTimeoutMilliseconds: Int64
    /// How long the whole GET may take, body included.
    public var deadlineMilliseconds: Int64
    /// Extra PEM trust roots (the operator's `discovery.caBundle`), beside the system's.
    public var caBundle: String?
    /// The address to connect to instead of resolving the URL's host (`discovery.resolve`).
    public var address: String?

    public init(
        url: String, limit: Int, connectTimeoutMilliseconds: Int64, deadlineMilliseconds: Int64,
        caBundle: String? = nil, address: String? = nil
    ) {
        self.url = url
        self.limit = limit
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.deadlineMilliseconds = deadlineMilliseconds
        self.caBundle = caBundle
        self.address = address
    }
}
