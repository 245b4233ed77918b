import CRethinkSpawn
import Dispatch
import Glibc
import Logging
import Synchronization

/// A confined child, running.
///
/// The caller owns the three parent-side descriptors (the write end of the child's stdin, the
/// read ends of its stdout and stderr): all are close-on-exec and in blocking mode, ready for
/// `NIOPipeBootstrap`. The pidfd stays inside: NIO must never see it (it reads it, gets EINVAL
/// and traps). The child's exit is watched on the pidfd with a Dispatch read source and
/// `waitid(P_PIDFD, WNOHANG)`, which reaps it; the pidfd is closed after that.
public final class SandboxedProcess: Sendable {
    public let pid: Int32
    public let stdinFD: CInt
    public let stdoutFD: CInt
    public let stderrFD: CInt
    /// What confines it (nil: seccomp and rlimits only).
    public let confinement: Confinement?

    private struct State {
        var pidfd: CInt
        var exitStatus: ExitStatus?
        var source: (any DispatchSourceRead)?
        var queue: DispatchQueue?
        var retryDelay = 1
    }

    private let state: Mutex<State>
    private let onExit: @Sendable (ExitStatus) -> Void
    private let logger: Logger

    init(
        pid: Int32, pidfd: CInt, stdinFD: CInt, stdoutFD: CInt, stderrFD: CInt, logger: Logger,
        confinement: Confinement? = nil, onExit: @escaping @Sendable (ExitStatus) -> Void
    ) {
        self.confinement = confinement
        self.pid = pid
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.logger = logger
        self.onExit = onExit
        self.state = Mutex(State(pidfd: pidfd))
    }

    /// Lowers the stub's CPU share to its confinement's nice value (and its autogroup's, which setsid gave
    /// it), once it is running: called a second after it has answered its deploy message. Best effort;
    /// returns false when the autogroup should be tried again later (EAGAIN).
    @discardableResult
    public func lowerPriority() -> Bool {
        guard let nice = confinement?.nice, nice != 0 else { return true }
        return state.withLock { state in
            guard state.exitStatus == nil else { return true }
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid), nice)
            // The kernel lets a process without CAP_SYS_ADMIN re-weight an autogroup once per 100 ms, system
            // wide (it takes global locks): EAGAIN means "later", and the caller tries again.
            let fd = open("/proc/\(pid)/autogroup", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return true }
            defer { close(fd) }
            let text = Array("\(nice)".utf8)
            let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            return written >= 0 || Glibc.errno != EAGAIN
        }
    }

    /// Sends `signal` through the pidfd, so it can never hit a recycled pid. Does nothing once
    /// the child has been reaped.
    public func signal(_ signal: Int32) {
        state.withLock { state in
            guard state.exitStatus == nil, state.pidfd >= 0 else { return }
            if rt_pidfd_send_signal(state.pidfd, signal) != 0, Glibc.errno != ESRCH {
                logger.warning(
                    "could not signal stub process",
                    metadata: [
                        "pid": "\(pid)", "signal": "\(signal)", "error": "\(SandboxError.describe(errno: Glibc.errno))",
                    ])
            }
        }
    }

    /// True once the child has ended and been reaped.
    public var hasExited: Bool { state.withLock { $0.exitStatus != nil } }

    /// How the child ended, once it has.
    public var exitStatus: ExitStatus? { state.withLock { $0.exitStatus } }

    /// Starts watching the pidfd. The source keeps this object alive until the child is reaped,
    /// so `onExit` fires even if the caller lets go of it. A child that already ended leaves
    /// the pidfd readable, so no exit can be missed.
    func monitorExit(on queue: DispatchQueue) {
        state.withLock { state in
            let source = DispatchSource.makeReadSource(fileDescriptor: state.pidfd, queue: queue)
            source.setEventHandler { self.reapIfExited() }
            source.setCancelHandler { self.finish() }
            state.source = source
            state.queue = queue
            source.resume()
        }
    }

    private func reapIfExited() {
        state.withLock { state in
            guard state.exitStatus == nil, state.pidfd >= 0 else { return }
            var kind: CInt = 0
            var status: CInt = 0
            switch rt_waitid_pidfd(state.pidfd, &kind, &status) {
            case 0:
                // Readable, yet nothing to reap: the process is still on its way out. The read source
                // need not fire again for the same readiness, so look again shortly.
                let delay = state.retryDelay
                state.retryDelay = min(delay * 2, 100)
                state.queue?.asyncAfter(deadline: .now() + .milliseconds(delay)) { self.reapIfExited() }
                return
            case 1:
                state.exitStatus = UInt32(kind) == RT_EXIT_EXITED.rawValue ? .exited(status) : .signaled(status)
            default:
                let error = Glibc.errno
                logger.error(
                    "waitid on a stub's pidfd failed; its exit status is lost",
                    metadata: ["pid": "\(pid)", "error": "\(SandboxError.describe(errno: error))"])
                state.exitStatus = .exited(-1)
            }
            state.source?.cancel()
        }
    }

    /// The source's cancel handler: the source no longer uses the pidfd, so close it, then report.
    private func finish() {
        let status = state.withLock { state -> ExitStatus? in
            if state.pidfd >= 0 { close(state.pidfd) }
            state.pidfd = -1
            state.source = nil
            return state.exitStatus
        }
        if let status { onExit(status) }
    }
}
