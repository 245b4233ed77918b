/// The rlimits a stub runs under.
///
/// Core dumps are always off (`RLIMIT_CORE` 0) and not configurable: a stub killed by the seccomp
/// filter gets SIGSYS, which dumps core by default, and the core would land in its working
/// directory. `nil` leaves a limit as inherited from the daemon.
public struct ResourceLimits: Sendable, Codable, Equatable {
    /// `RLIMIT_NOFILE`: descriptors the stub may hold open at once.
    public var openFiles: UInt64
    /// `RLIMIT_AS`: bytes of address space. Off by default: V8 and the Swift runtime reserve far
    /// more address space than they use, so this limit breaks them long before memory runs out.
    public var addressSpaceBytes: UInt64?
    /// `RLIMIT_FSIZE`: the largest file the stub may write (SIGXFSZ beyond it).
    public var fileSizeBytes: UInt64?
    /// `RLIMIT_CPU`: CPU seconds in total. Off by default: stubs are long-lived.
    public var cpuSeconds: UInt64?
    /// `RLIMIT_DATA`: bytes of private writable memory (heap, anonymous mappings, thread stacks). Unlike
    /// the address space, reservations V8 makes without access do not count, so it bounds memory for
    /// every language.
    public var memoryBytes: UInt64?
    /// `RLIMIT_NPROC`: tasks (processes and threads) of the stub's user. Only per stub where the stub
    /// has a uid of its own or a user namespace of its own (the kernel counts per user and namespace).
    public var tasks: UInt64?

    public init(
        openFiles: UInt64, addressSpaceBytes: UInt64? = nil, fileSizeBytes: UInt64? = nil, cpuSeconds: UInt64? = nil,
        memoryBytes: UInt64? = nil, tasks: UInt64? = nil
    ) {
        self.openFiles = openFiles
        self.addressSpaceBytes = addressSpaceBytes
        self.fileSizeBytes = fileSizeBytes
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.tasks = tasks
    }

    /// 1024 open files, files up to 256 MiB, no address-space or CPU limit; memory and tasks unbounded
    /// (the daemon's configuration bounds them: see `DaemonConfiguration.SandboxSettings`).
    public static let `default` = ResourceLimits(openFiles: 1024, fileSizeBytes: 256 * 1024 * 1024)

    /// The daemon's defaults for its stubs: 1 GiB of memory, 128 tasks.
    public static let stubDefault = ResourceLimits(
        openFiles: 1024, fileSizeBytes: 256 * 1024 * 1024, memoryBytes: 1 << 30, tasks: 128)
}
