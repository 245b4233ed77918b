import Synchronization

/// Where the daemon is in its life. `start`, `reload` and `stop` move it through one lock, so that a second
/// `stop` (a SIGTERM during a test's teardown, two signals) returns instead of stopping a stopped event loop,
/// and a reload that comes during the shutdown is refused instead of deploying into it.
final class DaemonState: Sendable {
    enum Phase: Sendable, Equatable {
        case created, starting, serving, stopping, stopped
    }

    private let phase = Mutex<Phase>(.created)

    var current: Phase { phase.withLock { $0 } }

    /// Moves to `next` when the daemon is in one of `allowed`; whether it did.
    func move(from allowed: [Phase], to next: Phase) -> Bool {
        phase.withLock { phase in
            guard allowed.contains(phase) else { return false }
            phase = next
            return true
        }
    }
}
