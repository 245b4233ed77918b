/// A protostub's status (SPEC section 4). `deploying`, `deployed`, `deployment-failed` and `dead` are set by
/// the runtime; the others are reported by the stub itself with an `update` to its status resource.
public enum StubStatus: String, Sendable, CaseIterable, Codable {
    case deploying
    case deployed
    case created
    case inProgress = "in-progress"
    case live
    case failed
    case disconnected
    case deploymentFailed = "deployment-failed"
    case dead
    /// The runtime stopped it on purpose (an operator, idleness, shutdown); its `reason` says which. Broadcast
    /// once, then the stub is gone from the registry.
    case undeployed

    /// Parses a status value case-insensitively (`LIVE` = `live`, as the reTHINK seed writes it). reTHINK's
    /// older stubs report `connected` for what the contract calls `live` (SPEC section 7).
    public init?(reported value: String) {
        let lowered = value.lowercased()
        if lowered == "connected" {
            self = .live
            return
        }
        guard let status = StubStatus(rawValue: lowered) else { return nil }
        self = status
    }

    /// Statuses a stub may report about itself; the others belong to the runtime.
    public var isReportableByStub: Bool {
        switch self {
        case .created, .inProgress, .live, .failed, .disconnected: return true
        default: return false
        }
    }

    /// Traffic flows to a stub that is `live`, and while `disconnected` (it reconnects itself).
    public var acceptsTraffic: Bool { self == .live || self == .disconnected }

    /// Traffic waits in the stub's queue while it is on its way to `live`.
    public var queuesTraffic: Bool {
        switch self {
        case .deploying, .deployed, .created, .inProgress: return true
        default: return false
        }
    }
}
