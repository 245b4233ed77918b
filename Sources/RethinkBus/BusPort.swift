import RethinkMessages

/// Something attached to the MessageBUS that messages are delivered to: a client connection, a stub's
/// MiniBUS, or a runtime component. Confined to the bus's event loop.
///
/// Delivery only writes; the bus flushes every port it wrote to once per batch of input, so pipelined
/// traffic costs one syscall per batch instead of one per message.
public final class BusPort: @unchecked Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable {
        case client(number: Int, url: String)
        case stub(domain: DomainKey, url: String)
        case component(url: String)
    }

    public let kind: Kind
    /// The Unix identity behind a client port, once known.
    public var credentials: PeerCredentials?
    /// Addresses this port listens on (and so owns).
    public internal(set) var listening: Set<String> = []
    /// False while the port's peer does not keep up (NIO's write-buffer high watermark): traffic for a
    /// stub then waits in its bounded queue instead of piling up in memory.
    public var isWritable = true
    var needsFlush = false
    var isAttached = false
    /// Its requests waiting for their final response.
    var inFlight = 0
    /// The bus's "message dropped" notices about what this port sends (a stub or a client can send a flood of
    /// undeliverable notifications; each would be a line of the daemon's log).
    var droppedNotices = LogRateLimit(burst: 100, interval: .seconds(10))
    private let deliver: (Message, BusPort?) -> Void
    private let flusher: () -> Void

    /// - Parameters:
    ///   - deliver: writes one message (the sender's port is given for runtime components); must not flush.
    ///   - flush: pushes what `deliver` wrote.
    public init(kind: Kind, deliver: @escaping (Message, BusPort?) -> Void, flush: @escaping () -> Void) {
        self.kind = kind
        self.deliver = deliver
        self.flusher = flush
    }

    /// The port's own address: the client URL, the stub URL or the component's URL.
    public var url: String {
        switch kind {
        case .client(_, let url), .stub(_, let url), .component(let url): return url
        }
    }

    public var description: String { url }

    /// Whether this port may send messages `from` the address: its own URL or an address it listens on.
    public func owns(_ address: String) -> Bool {
        address == url || listening.contains(address)
    }

    func write(_ message: Message, sender: BusPort?) {
        deliver(message, sender)
    }

    func flush() {
        flusher()
    }

    public static func == (lhs: BusPort, rhs: BusPort) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
