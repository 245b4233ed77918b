import RethinkMessages

/// reTHINK's protostub state machine: which status may follow which. Used to warn, never to refuse: the
/// runtime applies every status a stub reports, in order (SPEC section 4).
public enum StatusMachine {
    private static let successors: [StubStatus: Set<StubStatus>] = [
        .deploying: [.deployed, .deploymentFailed, .disconnected],
        .deployed: [.created, .inProgress, .live, .failed, .disconnected, .deploymentFailed],
        .created: [.inProgress, .live, .failed, .disconnected],
        .inProgress: [.live, .failed, .disconnected],
        .live: [.inProgress, .failed, .disconnected],
        .failed: [.inProgress, .live, .disconnected, .deploying, .dead],
        .disconnected: [.inProgress, .live, .failed, .deploying, .dead, .created],
        .deploymentFailed: [.deploying],
        .dead: [.deploying],
    ]

    /// Whether `next` may follow `current`. A fresh stub (no current status) starts at `deploying`.
    public static func allows(from current: StubStatus?, to next: StubStatus) -> Bool {
        guard let current else { return next == .deploying }
        if current == next || next == .undeployed { return true }
        return successors[current, default: []].contains(next)
    }
}
