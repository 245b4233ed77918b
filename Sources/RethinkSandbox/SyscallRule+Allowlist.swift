import Glibc

/// The allowlists. Anything not listed here gets the policy's default action (EPERM or SIGSYS).
///
/// Deliberately absent: new processes (fork, vfork, clone without CLONE_THREAD), namespaces
/// (unshare, setns, clone with CLONE_NEW*), mounts, tracing (ptrace, process_vm_*), BPF and
/// perf, kernel modules and kexec, keyrings, clocks, swap, reboot, accounting, raw I/O ports,
/// file handles, io_uring, listening sockets (bind, listen, accept), chroot and pivot_root.
extension SyscallRule {
    /// With `supervised`, the calls that name a network destination go to the daemon's
    /// ``NetworkSupervisor`` instead of running (see ``supervisedNetwork``).
    static func rules(for language: StubLanguage, supervised: Bool = false) -> [SyscallRule] {
        let base = common + (supervised ? supervisedNetwork : unsupervisedNetwork)
        switch language {
        case .executable: return base
        case .python: return base + python
        case .javascript: return base + javascript
        }
    }

    /// What a glibc or static C program, a Swift program, and every interpreter need.
    static let common: [SyscallRule] =
        io + files + memory + signals + threads + time + identity + polling + network + control

    /// CPython 3.11 with its stdlib (threads, sockets, ssl, selectors) needs nothing beyond the
    /// common list; `subprocess` cannot work, as no stub may start a process.
    static let python: [SyscallRule] = []

    /// Node.js: V8 uses memory protection keys for its JIT code when the CPU has them.
    static let javascript: [SyscallRule] = ["pkey_alloc", "pkey_free", "pkey_mprotect", "membarrier"].map { allow($0) }

    private static let io: [SyscallRule] = [
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "lseek", "sendfile", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "close", "close_range",
        "eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    ].map { allow($0) }

    /// Reading and writing files is governed by file permissions for now (no Landlock yet), so
    /// the calls that create, rename and remove files are allowed; links, ownership and modes are not.
    private static let files: [SyscallRule] =
        [
            allow("open", when: .argument(2, masked: setIDBits, equals: 0)),
            allow("openat", when: .argument(3, masked: setIDBits, equals: 0)),
            // openat2's mode sits behind a pointer; glibc's open never uses it.
            fail("openat2", with: ENOSYS),
        ] + [
        "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "chdir",
        "fchdir", "flock", "fsync", "fdatasync", "ftruncate", "fadvise64", "mkdir", "mkdirat", "unlink",
        "unlinkat", "rename", "renameat", "renameat2", "rmdir", "umask",
    ].map { allow($0) }

    /// S_ISUID | S_ISGID: `open(path, O_CREAT, 04755)` would make a set-id file without chmod; such an
    /// open gets the policy's default action (EPERM, or SIGSYS in kill mode).
    private static let setIDBits: UInt64 = 0o6000

    private static let memory: [SyscallRule] = [
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore",
    ].map { allow($0) }

    /// `kill` only for pid >= 0: a stub may signal itself (or, as the same user, another process
    /// by pid), never a process group or every process (`kill(-1, ...)`). `tgkill`/`tkill` are
    /// how `raise` and `pthread_kill` work (Python signals its own threads).
    private static let signals: [SyscallRule] =
        [
            "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
            "rt_sigtimedwait", "sigaltstack", "tgkill", "tkill",
        ].map { allow($0) } + [allow("kill", when: .argument(0, masked: 0x8000_0000, equals: 0))]

    private static let cloneThread: UInt64 = 0x0001_0000
    /// CLONE_THREAD plus every CLONE_NEW* flag that `clone` accepts.
    private static let cloneCheckedFlags: UInt64 =
        cloneThread | 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000
        | 0x4000_0000

    /// Threads, not processes: clone3 hides its flags behind a pointer no filter can read, so it
    /// answers ENOSYS and glibc falls back to clone, whose flags must hold CLONE_THREAD and no
    /// CLONE_NEW*.
    private static let threads: [SyscallRule] =
        [
            "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
            "arch_prctl", "sched_yield", "sched_getaffinity", "getcpu", "exit", "exit_group",
            "restart_syscall",
        ].map { allow($0) } + [
            allow("clone", when: .argument(0, masked: cloneCheckedFlags, equals: cloneThread)),
            fail("clone3", with: ENOSYS),
        ]

    private static let time: [SyscallRule] = [
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    ].map { allow($0) }

    /// Read-only facts about the process and machine. `prlimit64` only on the stub itself
    /// (pid 0): glibc's getrlimit and setrlimit use it, and no stub needs another's limits.
    private static let identity: [SyscallRule] =
        [
            "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
            "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "uname", "sysinfo", "getrlimit",
            "getrusage", "times", "getrandom", "capget",
        ].map { allow($0) } + [allow("prlimit64", when: .argument(0, equals: 0))]

    private static let polling: [SyscallRule] = [
        "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2",
    ].map { allow($0) }

    private static let afUnix: UInt64 = 1
    private static let afInet: UInt64 = 2
    private static let afInet6: UInt64 = 10
    private static let afNetlink: UInt64 = 16
    private static let sockStream: UInt64 = 1
    private static let sockDgram: UInt64 = 2
    /// The socket type without SOCK_NONBLOCK and SOCK_CLOEXEC.
    private static let sockTypeMask: UInt64 = 0xf

    /// Stubs are clients over TCP and UDP: `socket` only for AF_INET/AF_INET6, only SOCK_STREAM or
    /// SOCK_DGRAM, only protocol 0, TCP or UDP (so no raw socket, no SOCK_PACKET, no ICMP). AF_UNIX
    /// answers EACCES (a stub has no unix socket but its pipes; glibc's nscd probe copes), AF_NETLINK
    /// EAFNOSUPPORT (glibc's getaddrinfo probes it). No bind, listen or accept: a stub that must serve
    /// goes through the runtime. `socketpair` stays: it reaches nobody.
    private static let network: [SyscallRule] =
        [afInet, afInet6].flatMap { family in
            [sockStream, sockDgram].flatMap { type in
                [0, 6, 17].map { protocolNumber in
                    allow(
                        "socket", when: .argument(0, equals: family),
                        .argument(1, masked: sockTypeMask, equals: type), .argument(2, equals: protocolNumber))
                }
            }
        } + [
            fail("socket", with: EACCES, when: .argument(0, equals: afUnix)),
            fail("socket", with: EAFNOSUPPORT, when: .argument(0, equals: afNetlink)),
        ]
        + [
            "socketpair", "recvfrom", "recvmsg", "recvmmsg", "getsockopt", "setsockopt", "getsockname",
            "getpeername", "shutdown",
        ].map { allow($0) }

    /// Without a supervisor (the sandbox's own tests, the benchmark's baseline): the calls run as made.
    private static let unsupervisedNetwork: [SyscallRule] = ["connect", "sendto", "sendmsg", "sendmmsg"].map {
        allow($0)
    }

    /// With the supervisor: every call that names a destination is decided, and made, by the daemon. A
    /// `sendto` without an address (arg 4 NULL) goes to the socket's connected peer, which the daemon
    /// approved when it connected it, and runs as made; `sendmsg`'s address sits behind a pointer no
    /// filter can read, so it always goes to the daemon.
    private static let supervisedNetwork: [SyscallRule] = [
        allow("sendto", when: .argument(4, equals: 0)),
    ] + supervisionRules

    /// The calls the daemon decides (what ``SeccompProgram/compileSupervision()`` compiles on its own).
    static let supervisionRules: [SyscallRule] = [
        notify("connect"), notify("sendto", when: .argument(4, notEqual: 0)), notify("sendmsg"), notify("sendmmsg"),
    ]

    private static let prSetPDeathSig: UInt64 = 1
    private static let prGetPDeathSig: UInt64 = 2
    private static let prGetDumpable: UInt64 = 3
    private static let prSetName: UInt64 = 15
    private static let prGetName: UInt64 = 16
    private static let prSetVMA: UInt64 = 0x5356_4d41

    /// `ioctl` is allowed here; TIOCSTI and TIOCLINUX (typing into a terminal) are refused by a
    /// guard in front of the libseccomp program (see ``SeccompCompiler``), because libseccomp
    /// cannot express "low 32 bits differ" and the kernel ignores the high 32 bits of the request.
    /// `prctl` only for naming threads and mappings and the death signal; `personality` only to
    /// query (0xffffffff) or set PER_LINUX (0). `execve` is what the sandbox itself calls last.
    private static let control: [SyscallRule] =
        [allow("ioctl"), allow("execve")]
        + [prSetPDeathSig, prGetPDeathSig, prGetDumpable, prSetName, prGetName, prSetVMA].map {
            allow("prctl", when: .argument(0, equals: $0))
        }
        + [0xffff_ffff, 0].map { allow("personality", when: .argument(0, low32Equals: $0)) }
}
