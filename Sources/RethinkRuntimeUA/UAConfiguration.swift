import NIOCore
import RethinkBus
import RethinkSandbox

/// How the Runtime UA deploys and stops stubs.
public struct UAConfiguration: Sendable {
    /// How long a new stub has to answer the deploy message.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// After the undeploy message and closing stdin, how long a stub has to exit before SIGTERM, then SIGKILL.
    public var stopGrace: TimeAmount = .seconds(2)
    public var killGrace: TimeAmount = .seconds(1)
    /// The sandbox's answer to a system call outside the allowlist.
    public var defaultAction: SandboxPolicy.DefaultAction = .errno
    public var limits: ResourceLimits = .stubDefault
    /// Identity, Landlock, scratch, network destinations and per-domain overrides.
    public var isolation = IsolationSettings()
    /// Largest MiniBUS line a stub may write.
    public var maxMessageBytes: Int = 1 << 20
    /// Each stub's log lines per window (its stderr), as journald's per-service rate limit.
    public var stubLogRate = LogRateLimit(burst: 1000, interval: .seconds(10))

    public init() {}
}
