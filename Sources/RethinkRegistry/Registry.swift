import FoundationEssentials
import Logging
import RethinkMessages

/// The Runtime Registry (SPEC section 1): allocates protostub URLs, keeps each stub's record and status
/// from its `update` messages, and decides what happens after a crash.
///
/// An actor because the Runtime UA's deploy tasks, the bus and process-exit notifications all touch the
/// same records. Status changes leave through `broadcast`, in the order they were applied.
public actor Registry {
    private var records: [DomainKey: StubRecord] = [:]
    private var nextStubNumber = 1
    private let policy: CrashPolicy
    private let broadcast: @Sendable (StatusChange) -> Void
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// Callers waiting for a stub to reach one of some statuses (``waitForStatus(of:in:timeout:)``).
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0

    private struct Waiter {
        let url: String
        let domain: DomainKey
        let statuses: Set<StubStatus>
        let continuation: CheckedContinuation<StubRecord?, Never>
    }

    public init(
        policy: CrashPolicy = .default, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        broadcast: @escaping @Sendable (StatusChange) -> Void
    ) {
        self.policy = policy
        self.logger = logger
        self.now = now
        self.broadcast = broadcast
    }

    /// Allocates a new stub URL for `domain` (unique for the runtime's lifetime) and sets it `deploying`.
    public func allocate(domain: DomainKey, version: String?, interworking: Bool) -> String {
        let url = RuntimeAddresses.stubURL(domain: domain, number: nextStubNumber)
        nextStubNumber += 1
        let previous = records[domain]
        var record = StubRecord(
            domain: domain, url: url, status: .deploying, desc: nil, pid: nil, version: version,
            interworking: interworking, since: now(), restarts: previous.map { $0.restarts + 1 } ?? 0)
        record.crashes = previous?.crashes ?? []
        record.reason = .requested
        records[domain] = record
        resumeWaiters { $0.domain == domain && $0.url != url ? .some(nil) : nil }
        emit(
            StatusChange(
                stubURL: url, domain: domain, status: .deploying, previous: previous?.status, desc: nil, expected: true,
                reason: .requested))
        return url
    }

    /// Applies a status to the stub at `url`; returns the change, or nil when `url` is not the domain's
    /// current stub (a stale report from a stub already replaced).
    @discardableResult
    public func apply(_ status: StubStatus, to url: String, desc: String? = nil, reason: StatusReason? = nil)
        -> StatusChange?
    {
        guard let domain = domain(ofStub: url), var record = records[domain], record.url == url else {
            logger.debug(
                "status for an unknown or replaced stub dropped",
                metadata: StubMetadata.of(url: url, status: status.rawValue))
            return nil
        }
        // A stub's last reports can reach the Registry after its exit (its stdout is read on another thread
        // than its exit is seen on): once the runtime gave up on it, nothing it said brings it back.
        guard record.status != .dead else {
            logger.debug(
                "status for a dead stub dropped",
                metadata: StubMetadata.of(url: url, status: status.rawValue))
            return nil
        }
        let previous = record.status
        let expected = StatusMachine.allows(from: previous, to: status)
        record.status = status
        record.desc = desc
        record.reason = reason
        record.since = now()
        if status == .live { record.deployTimings.live(at: .now) }
        records[domain] = record
        let change = StatusChange(
            stubURL: url, domain: domain, status: status, previous: previous, desc: desc, expected: expected,
            reason: reason)
        emit(change)
        return change
    }

    /// Waits until the stub at `url` enters one of `statuses` (its record then), is replaced by another stub of
    /// its domain (nil), or `timeout` passes (nil). Driven by the status changes as they are applied, not by
    /// polling.
    public func waitForStatus(of url: String, in statuses: Set<StubStatus>, timeout: Duration) async -> StubRecord? {
        guard let domain = DomainKey(address: url), let record = records[domain], record.url == url else { return nil }
        if statuses.contains(record.status) { return record }
        nextWaiter += 1
        let id = nextWaiter
        return await withCheckedContinuation { continuation in
            waiters[id] = Waiter(url: url, domain: domain, statuses: statuses, continuation: continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.resumeWaiter(id, with: nil)
            }
        }
    }

    private func resumeWaiter(_ id: Int, with record: StubRecord?) {
        waiters.removeValue(forKey: id)?.continuation.resume(returning: record)
    }

    /// Resumes each waiter `decide` gives an outcome for (`.some(record)`, or `.some(nil)`: replaced).
    private func resumeWaiters(_ decide: (Waiter) -> StubRecord??) {
        for (id, waiter) in waiters {
            if let outcome = decide(waiter) { resumeWaiter(id, with: outcome) }
        }
    }

    public func setPID(_ pid: Int32?, of url: String, confinement: JSONValue? = nil) {
        guard let domain = domain(ofStub: url), records[domain]?.url == url else { return }
        records[domain]?.pid = pid
        if let confinement { records[domain]?.confinement = confinement }
    }

    /// Takes the phases the Runtime UA timed for the deploy of the stub at `url`, whose handshake was answered
    /// at `answeredAt`.
    public func setDeployPhases(_ phases: DeployTimings, answeredAt: ContinuousClock.Instant, of url: String) {
        guard let domain = domain(ofStub: url), records[domain]?.url == url else { return }
        records[domain]?.deployTimings.merge(phases: phases, answeredAt: answeredAt)
    }

    /// Records a crash of the stub at `url` and decides: redeploy after a backoff, or give up.
    public func recordCrash(of url: String, jitter: Double = Double.random(in: 0...1)) -> CrashDecision {
        guard let domain = domain(ofStub: url), var record = records[domain] else { return .giveUp }
        let time = now()
        record.crashes = record.crashes.filter { time.timeIntervalSince($0) < policy.window } + [time]
        record.pid = nil
        records[domain] = record
        return policy.decision(crashesInWindow: record.crashes.count, jitter: jitter)
    }

    /// An operator's redeploy of a `dead` stub starts with a clean crash history.
    public func forgiveCrashes(of domain: DomainKey) {
        records[domain]?.crashes = []
    }

    /// Forgets a stub the runtime stopped on purpose, broadcasting `undeployed` with the reason.
    public func remove(domain: DomainKey, reason: StatusReason = .operator, desc: String? = nil) {
        guard let record = records.removeValue(forKey: domain) else { return }
        emit(
            StatusChange(
                stubURL: record.url, domain: domain, status: .undeployed, previous: record.status, desc: desc,
                expected: true, reason: reason))
    }

    public func record(for domain: DomainKey) -> StubRecord? {
        records[domain]
    }

    /// Puts back the record of a stub that a live upgrade meant to replace, when the newer version did not
    /// come up: the previous stub serves on. Nothing happens if `replacedBy` is no longer the current stub.
    public func reinstate(_ record: StubRecord, replacedBy url: String) {
        guard records[record.domain]?.url == url else { return }
        records[record.domain] = record
        emit(
            StatusChange(
                stubURL: record.url, domain: record.domain, status: record.status, previous: nil, desc: record.desc,
                expected: true))
    }

    /// Every stub, sorted by domain.
    public func snapshot() -> [StubRecord] {
        records.values.sorted { $0.domain < $1.domain }
    }

    private func domain(ofStub url: String) -> DomainKey? {
        guard let key = DomainKey(address: url), records[key] != nil else { return nil }
        return key
    }

    private func emit(_ change: StatusChange) {
        let messageID: String? =
            switch change.status {
            case .deployed: JournalMessageID.stubDeployed
            case .live: JournalMessageID.stubLive
            case .dead: JournalMessageID.stubDead
            default: nil
            }
        var metadata = StubMetadata.of(
            url: change.stubURL, domain: change.domain, status: change.status.rawValue, reason: change.reason,
            messageID: messageID)
        if let desc = change.desc { metadata["rethink_desc"] = "\(desc)" }
        if change.expected {
            logger.info("stub \(change.stubURL) is \(change.status.rawValue)", metadata: metadata)
        } else {
            logger.warning(
                "stub \(change.stubURL) went from \(change.previous?.rawValue ?? "nothing") to \(change.status.rawValue), outside reTHINK's state machine",
                metadata: metadata)
        }
        broadcast(change)
        guard !waiters.isEmpty else { return }
        let record = records[change.domain]
        resumeWaiters { waiter in
            guard waiter.url == change.stubURL else { return nil }
            if change.status == .undeployed { return .some(nil) }
            return waiter.statuses.contains(change.status) ? .some(record) : nil
        }
    }
}
