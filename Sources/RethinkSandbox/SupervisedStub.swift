import CRethinkSpawn
import Dispatch
import Glibc
import Logging
import Synchronization

/// One stub as the ``NetworkSupervisor`` knows it: its listener, its pidfd, its policy, the names
/// the daemon resolved for it, and the destinations already refused (logged once each).
final class SupervisedStub: Sendable {
    let listener: CInt
    let pidfd: CInt
    let pid: Int32
    let policy: NetworkPolicy
    let metadata: Logger.Metadata

    /// Lookups for this stub run one at a time here: a stub cannot make the daemon start lookups faster
    /// than they finish, nor hold up another stub's.
    let lookups: DispatchQueue

    private struct State {
        var resolved: [String: (addresses: [IPAddress], at: ContinuousClock.Instant)] = [:]
        var reverse: [IPAddress: (names: [String], at: ContinuousClock.Instant)] = [:]
        var denied: Set<String> = []
        var deniedCount = 0
    }

    private let state = Mutex(State())
    /// How long a resolved name is believed before it is looked up again.
    static let nameLifetime: Duration = .seconds(30)

    init(listener: CInt, pidfd: CInt, pid: Int32, policy: NetworkPolicy, metadata: Logger.Metadata) {
        self.listener = listener
        self.pidfd = pidfd
        self.pid = pid
        self.policy = policy
        self.metadata = metadata
        lookups = DispatchQueue(label: "rethink.sandbox.lookups.\(listener)")
    }

    /// The names resolved and still fresh.
    var resolvedNames: [String: [IPAddress]] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.resolved.filter { now - $0.value.at < Self.nameLifetime }.mapValues(\.addresses)
        }
    }

    /// Resolves every name of the policy ahead of the stub's first connect.
    func warmUp() {
        let names = Set((policy.connect + policy.datagram).compactMap { destination -> String? in
            if case .name(let name) = destination.host { return name }
            return nil
        })
        guard !names.isEmpty else { return }
        lookups.async { _ = self.resolve(Array(names)) }
    }

    /// Looks `names` up (blocking: call off the supervisor's thread) and returns every fresh name.
    func resolve(_ names: [String]) -> [String: [IPAddress]] {
        for name in names {
            let addresses = NameLookup.addresses(of: name)
            state.withLock { $0.resolved[name] = (addresses, ContinuousClock.now) }
        }
        return resolvedNames
    }

    /// The forward-confirmed names of `address`, looked up at most once per ``nameLifetime`` (blocking).
    func confirmedNames(of address: IPAddress) -> [String] {
        let now = ContinuousClock.now
        if let cached = state.withLock({ $0.reverse[address] }), now - cached.at < Self.nameLifetime {
            return cached.names
        }
        let names = NameLookup.confirmedNames(of: address)
        state.withLock { state in
            if state.reverse.count > 1024 { state.reverse.removeAll() }
            state.reverse[address] = (names, now)
        }
        return names
    }

    /// Logs a refused destination (or file, with `reason`) the first time it is refused.
    func noteDenied(
        _ what: String, reason: String = "not among the destinations its constraints grant", logger: Logger
    ) {
        let first = state.withLock { state in
            state.deniedCount += 1
            guard state.denied.count < Self.maxLoggedDenials else { return false }
            return state.denied.insert(what).inserted
        }
        guard first else { return }
        var fields = metadata
        fields["rethink_denied"] = "\(what)"
        logger.warning("sandbox refused \(what): \(reason)", metadata: fields)
    }

    /// Distinct refusals logged per stub; past them a stub probing every path costs the journal nothing more.
    static let maxLoggedDenials = 256

    var deniedCount: Int { state.withLock { $0.deniedCount } }
}

/// One intercepted call and how to answer it.
struct SupervisedCall: Sendable {
    let notification: rt_notification
    let stub: SupervisedStub

    func argument(_ index: Int) -> UInt64 {
        withUnsafeBytes(of: notification.args) { $0.load(fromByteOffset: index * 8, as: UInt64.self) }
    }

    /// Copies `count` bytes of the calling thread's memory, then checks the call is still pending, so
    /// the bytes are the caller's (not a recycled thread id's). nil on failure.
    func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        guard address != 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { rt_read_memory(pid_t(notification.pid), address, $0.baseAddress, count) }
        guard got == count, rt_notify_id_valid(stub.listener, notification.id) == 0 else { return nil }
        return bytes
    }

    /// A duplicate of the stub's descriptor `fd`; answers the call with the error when it has none.
    func socket(_ fd: UInt64) -> CInt? {
        let socket = rt_pidfd_getfd(stub.pidfd, CInt(truncatingIfNeeded: fd))
        guard socket >= 0 else {
            fail(Glibc.errno == EBADF ? EBADF : ENOTSOCK)
            return nil
        }
        var type: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(socket, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            close(socket)
            fail(ENOTSOCK)
            return nil
        }
        return socket
    }

    func succeed(_ value: Int64) {
        _ = rt_notify_respond(stub.listener, notification.id, value, 0)
    }

    func fail(_ error: Int32) {
        _ = rt_notify_respond(stub.listener, notification.id, 0, error == 0 ? EPERM : error)
    }
}

/// One message of a `sendmsg`/`sendmmsg`, copied out of the stub: its destination (if named), its
/// payload gathered from the iovecs, and whether it carried ancillary data.
struct CopiedMessage: Sendable {
    let address: [UInt8]?
    let data: [UInt8]
    let hasControl: Bool

    /// `header` is a `struct msghdr` (56 bytes on x86_64) in the stub's memory layout.
    init?(header: [UInt8], from call: SupervisedCall) {
        func word(_ offset: Int) -> UInt64 {
            header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        }
        let name = word(0)
        let nameLength = Int(UInt32(truncatingIfNeeded: word(8)))
        let iov = word(16)
        let iovCount = Int(word(24))
        hasControl = word(32) != 0 && word(40) != 0
        if name != 0 && nameLength > 0 {
            guard nameLength <= 128, let address = call.read(name, count: nameLength) else { return nil }
            self.address = address
        } else {
            address = nil
        }
        guard iovCount >= 0, iovCount <= 64 else { return nil }
        var data: [UInt8] = []
        if iovCount > 0 {
            guard let vectors = call.read(iov, count: iovCount * 16) else { return nil }
            for index in 0..<iovCount {
                let base = vectors.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 16, as: UInt64.self) }
                let length = vectors.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 16 + 8, as: UInt64.self) }
                let take = min(Int(min(length, UInt64(Int.max))), NetworkSupervisor.maxCopiedBytes - data.count)
                guard take > 0 else { continue }
                guard let chunk = call.read(base, count: take) else { return nil }
                data += chunk
            }
        }
        self.data = data
    }
}
