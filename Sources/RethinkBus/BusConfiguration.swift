import NIOCore

/// The MessageBUS's limits (SPEC sections 2-3).
public struct BusConfiguration: Sendable {
    /// No final response within this time from the request's entry: the runtime answers 408.
    public var responseTimeout: TimeAmount = .seconds(15)
    /// Messages waiting for one deploying or reconnecting stub; past it, 429.
    public var queueLimit: Int = 1000
    /// A stub emitting more than this many foreign messages within `violationWindow` is stopped.
    public var violationLimit: Int = 10
    public var violationWindow: TimeAmount = .seconds(60)
    /// After `deployment-failed`, messages for the domain are answered at once for this long.
    public var failureMemory: TimeAmount = .seconds(2)
    /// Requests one peer (a client, a stub) may have waiting for their final response; past it, 429. Each
    /// costs the daemon its tracking until it is answered or times out.
    public var maxInFlightPerPeer: Int = 10_000
    /// A `live` stub with no traffic and no listener interest this long is undeployed (`.zero`: never); the
    /// next message deploys it again. A descriptor's `idleSeconds` overrides it for its stub.
    public var idleTimeout: TimeAmount = .seconds(300)

    public init() {}
}
