import FoundationEssentials
import NIOCore

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// sd_notify(3) by hand: one datagram to `$NOTIFY_SOCKET` (`READY=1`, `STATUS=...`, `STOPPING=1`,
/// `RELOADING=1`, `WATCHDOG=1`).
///
/// Why hand-written: the protocol is a single sendto on a unix datagram socket; libsystemd would add a
/// dependency and nothing else. Does nothing when the daemon is not run by systemd.
struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// `WATCHDOG_USEC` when systemd expects pings from this process (`WatchdogSec=`).
    let watchdogInterval: TimeAmount?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidMatches, let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0 {
            watchdogInterval = .microseconds(usec)
        } else {
            watchdogInterval = nil
        }
    }

    var isActive: Bool { socketPath != nil }

    /// Sends `state` (newline-separated assignments); returns false when it could not be delivered.
    ///
    /// It runs on the event loop, so it never blocks for long: a service manager that does not read its
    /// socket (its queue holds `net.unix.max_dgram_qlen` datagrams, 10 by default) costs a state message at
    /// most ``stateTimeout`` and a watchdog ping nothing (`waiting: false`: dropped; the next one follows).
    @discardableResult
    func notify(_ state: String, waiting: Bool = true) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: socketPath) else { return false }
        var timeout = timeval(tv_sec: 0, tv_usec: Self.stateTimeout)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let flags = Int32(MSG_NOSIGNAL) | (waiting ? 0 : Int32(MSG_DONTWAIT))
        let bytes = Array(state.utf8)
        let sent = address.withSockaddr { pointer, length in
            bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, flags, pointer, length) }
        }
        return sent == bytes.count
    }

    /// How long a state message may wait for room in the service manager's queue, in microseconds.
    static let stateTimeout = 250_000

    /// Pings systemd's watchdog from `eventLoop` at half the interval: the pings are tasks on the loop that
    /// routes every message, so a wedged loop stops them and systemd restarts the daemon.
    func startWatchdog(on eventLoop: EventLoop) -> RepeatedTask? {
        guard isActive, let watchdogInterval else { return nil }
        let period = TimeAmount.nanoseconds(max(watchdogInterval.nanoseconds / 2, 1_000_000))
        return eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: period) { _ in
            notify("WATCHDOG=1", waiting: false)
        }
    }
}
