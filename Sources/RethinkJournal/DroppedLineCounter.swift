import Synchronization

/// Stub log lines the journal had no room for, per stub, until they are reported.
///
/// A chatty stub must not stall the daemon, so its lines are sent without blocking and dropped when journald
/// is behind (dbus-broker's "lossy" mode). The count is reported in the journal once it takes entries again.
public final class DroppedLineCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let totalDropped = Atomic<Int>(0)

    public init() {}

    func record(_ source: String) {
        counts.withLock { $0[source, default: 0] += 1 }
        totalDropped.add(1, ordering: .relaxed)
    }

    /// The lines dropped for `source` since the last call, and resets its count.
    func take(_ source: String) -> Int {
        counts.withLock { $0.removeValue(forKey: source) ?? 0 }
    }

    /// Every line dropped since the daemon started.
    public var total: Int { totalDropped.load(ordering: .relaxed) }
}
