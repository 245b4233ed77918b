import CRethinkSpawn
import Glibc

/// Why a stub could not be started, in words an operator can act on: which step failed, for
/// which executable, the errno, and what to check.
public struct SandboxError: Error, CustomStringConvertible {
    /// What kind of failure; an opaque code so new ones can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The request itself is unusable (relative path, empty argv, NUL in a string).
        public static let invalidRequest = Code("invalidRequest")
        /// libseccomp refused the policy or could not export it.
        public static let filterCompilation = Code("filterCompilation")
        /// The daemon could not create the pipes for the stub's stdio.
        public static let descriptors = Code("descriptors")
        /// Starting the child failed at ``SandboxError/step``.
        public static let spawn = Code("spawn")
        /// A spawner thread could not be started, or the sandbox was shut down.
        public static let spawnerUnavailable = Code("spawnerUnavailable")
    }

    public let code: Code
    public let message: String
    /// The step of the spawn sequence that failed, for ``Code/spawn``.
    public let step: SpawnStep?
    /// The errno of the failed step or call, if there was one.
    public let errno: Int32?

    init(_ code: Code, _ message: String, step: SpawnStep? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.step = step
        self.errno = errno
    }

    public var description: String { "SandboxError(\(code)): \(message)" }

    /// "No such file or directory (ENOENT, 2)"
    static func describe(errno error: Int32) -> String {
        let text = String(cString: strerror(error))
        if let name = errnoNames[error] { return "\(text) (\(name))" }
        return "\(text) (errno \(error))"
    }

    private static let errnoNames: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", E2BIG: "E2BIG",
        ENOEXEC: "ENOEXEC", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES",
        EFAULT: "EFAULT", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE",
        EMFILE: "EMFILE", ETXTBSY: "ETXTBSY", ENOSYS: "ENOSYS", ELOOP: "ELOOP", ENAMETOOLONG: "ENAMETOOLONG",
    ]
}

/// The steps of starting a sandboxed child, in the order they run.
public enum SpawnStep: String, Sendable, CaseIterable {
    case validation
    case errorPipe = "pipe2"
    case clone = "clone3"
    case pidfdOpen = "pidfd_open"
    case signalReset = "signal reset"
    case setsid
    case deathSignal = "PR_SET_PDEATHSIG"
    case parentCheck = "parent check"
    case stdio = "dup2"
    case closeRange = "close_range"
    case chdir
    case rlimits = "setrlimit"
    case noNewPrivileges = "PR_SET_NO_NEW_PRIVS"
    case seccomp, execve
    case cgroup = "cgroup join"
    case namespaces = "user/mount namespace"
    case scratch = "scratch tmpfs"
    case landlock
    case identity = "uid/capability drop"
    case listener = "seccomp listener handoff"

    init(shimStep: Int32) {
        switch UInt32(bitPattern: shimStep) {
        case RT_STEP_PIPE.rawValue: self = .errorPipe
        case RT_STEP_CLONE.rawValue: self = .clone
        case RT_STEP_PIDFD_OPEN.rawValue: self = .pidfdOpen
        case RT_STEP_SIGNALS.rawValue: self = .signalReset
        case RT_STEP_SETSID.rawValue: self = .setsid
        case RT_STEP_PDEATHSIG.rawValue: self = .deathSignal
        case RT_STEP_PARENT_GONE.rawValue: self = .parentCheck
        case RT_STEP_DUP2.rawValue: self = .stdio
        case RT_STEP_CLOSE_RANGE.rawValue: self = .closeRange
        case RT_STEP_CHDIR.rawValue: self = .chdir
        case RT_STEP_RLIMIT.rawValue: self = .rlimits
        case RT_STEP_NO_NEW_PRIVS.rawValue: self = .noNewPrivileges
        case RT_STEP_SECCOMP.rawValue: self = .seccomp
        case RT_STEP_EXECVE.rawValue: self = .execve
        case RT_STEP_CGROUP.rawValue: self = .cgroup
        case RT_STEP_NAMESPACES.rawValue: self = .namespaces
        case RT_STEP_SCRATCH.rawValue: self = .scratch
        case RT_STEP_LANDLOCK.rawValue: self = .landlock
        case RT_STEP_IDENTITY.rawValue: self = .identity
        case RT_STEP_LISTENER.rawValue: self = .listener
        default: self = .validation
        }
    }

    /// What to check when this step fails.
    func advice(errno error: Int32) -> String {
        switch (self, error) {
        case (.execve, ENOENT):
            return "check that the executable exists at that absolute path (and, for a script, its interpreter)"
        case (.execve, EACCES): return "check the file is executable and its directories searchable"
        case (.execve, ENOEXEC): return "the file is not a program this kernel can run"
        case (.execve, EPERM): return "the filter or the mount (noexec) refused it"
        case (.chdir, _): return "check the working directory exists and is accessible"
        case (.rlimits, _): return "lower the stub's resource limits to at most the daemon's own hard limits"
        case (.clone, EAGAIN): return "the machine or user ran out of processes; stop some stubs"
        case (.clone, _), (.pidfdOpen, _): return "the kernel must be Linux 5.3 or later"
        case (.seccomp, _): return "the kernel must have seccomp filters; the filter may be malformed"
        case (.parentCheck, _): return "the daemon was exiting while this stub started"
        case (.namespaces, _):
            return "user and mount namespaces must be allowed (sysctl user.max_user_namespaces > 0; under systemd RestrictNamespaces=user mnt)"
        case (.scratch, _): return "mounting the scratch tmpfs needs a mount namespace (and the mount call under systemd's filter)"
        case (.landlock, _): return "the Landlock ruleset was refused; set sandbox.landlock to false to run without it"
        case (.identity, _): return "switching to the stub's uid needs root; check sandbox.uids"
        case (.listener, _): return "the daemon must be able to take the stub's seccomp listener (pidfd_getfd, Linux 5.6)"
        case (.cgroup, _): return "the stub's cgroup could not be joined; check the cgroup tree is writable"
        case (.errorPipe, _), (.stdio, _), (.closeRange, _): return "the daemon may be out of file descriptors"
        default: return "this is unexpected; please report it with this message"
        }
    }
}
