import FoundationEssentials
import RethinkMessages

/// What the Registry knows of one domain's stub; the `read` of `<runtimeURL>/registry` lists these.
public struct StubRecord: Sendable {
    public let domain: DomainKey
    public var url: String
    public var status: StubStatus
    public var desc: String?
    /// Why the current status was entered, when known.
    public var reason: StatusReason?
    public var pid: Int32?
    public var version: String?
    public var interworking: Bool
    /// When the current status was entered.
    public var since: Date
    /// How many times the stub was deployed again after the first time.
    public var restarts: Int
    /// What confines the running stub (SPEC section 9): `summary` and each mechanism's figure.
    public var confinement: JSONValue?
    /// Where this deploy's time went, phase by phase (empty phases until the Runtime UA hands them over).
    public var deployTimings = DeployTimings()
    /// Crash times inside the probation window.
    var crashes: [Date] = []
}
