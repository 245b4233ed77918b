import Synchronization

/// The uids (gid = uid) stubs run under, one per running stub, never the daemon's (the way systemd's
/// `DynamicUser=` hands out ids from 61184-65519). The default range, 1879048192-1879113727
/// (0x70000000 + 65536), is one systemd leaves unused; `sandbox.uids` changes it. Ids own nothing on
/// disk: a stub's files are its tmpfs scratch, gone with it.
public final class IdentityPool: Sendable {
    public let range: ClosedRange<UInt32>
    private let inUse = Mutex<Set<UInt32>>([])

    public init(range: ClosedRange<UInt32>) {
        self.range = range
    }

    public static let defaultRange: ClosedRange<UInt32> = 1_879_048_192...1_879_113_727

    /// The lowest free id, or nil when every id of the range runs a stub.
    func take() -> UInt32? {
        inUse.withLock { used in
            var candidate = range.lowerBound
            while used.contains(candidate) {
                guard candidate < range.upperBound else { return nil }
                candidate += 1
            }
            used.insert(candidate)
            return candidate
        }
    }

    func give(_ id: UInt32) {
        _ = inUse.withLock { $0.remove(id) }
    }

    /// Whether `uid` is one of the ids this pool hands out (a peer with it is a stub).
    public func contains(_ uid: UInt32) -> Bool { range.contains(uid) }
}
