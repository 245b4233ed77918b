import Glibc

/// Everything that confines a stub beyond its seccomp allowlist (SPEC section 9): its own identity,
/// Landlock over the file system, a size-bounded private scratch directory, the network destinations
/// its constraints grant (decided by the daemon's ``NetworkSupervisor``), and resource bounds.
///
/// `nil` in ``SandboxPolicy/isolation`` means seccomp and rlimits only, which is what the sandbox's own
/// unit tests and the benchmark's baseline use; the daemon always gives one.
public struct Isolation: Sendable, Equatable {
    /// Which file system paths the stub may use, and how. Anything else is refused (EACCES) by Landlock.
    public struct FileRule: Sendable, Equatable {
        public enum Access: String, Sendable, Equatable {
            /// Read files and list directories.
            case read
            /// Read, and execute (programs, the dynamic loader).
            case readExecute
            /// Read and write, create and remove.
            case readWrite
        }

        public var path: String
        public var access: Access

        public init(_ path: String, _ access: Access) {
            self.path = path
            self.access = access
        }
    }

    /// The ids a stub runs under.
    public enum Identity: Sendable, Equatable {
        /// A uid/gid of its own from ``IdentityPool`` (the daemon is root), picked at spawn.
        case dedicated
        /// A user namespace of its own; its uid outside is the daemon's (the daemon is unprivileged).
        case userNamespace
    }

    public var identity: Identity
    /// The package directory (daemon-written, verified): the stub sees it read-only at ``packagePath``.
    public var packageDirectory: String?
    /// A single file to give instead of the whole directory (seen at ``packagePath``/<its name>).
    public var packageFile: String?
    /// Landlock rules; the scratch directory (the working directory) is added by the sandbox.
    public var files: [FileRule]
    /// Whether to apply Landlock at all (best effort: a kernel without it is logged and skipped).
    public var landlock: Bool
    /// Size of the tmpfs mounted over the working directory, in bytes.
    public var scratchBytes: UInt64
    /// Where the stub may connect and send datagrams.
    public var network: NetworkPolicy
    /// Added to the stub's nice value (and its autogroup's), so a busy stub yields to the daemon.
    public var nice: Int32

    public init(
        identity: Identity, packageDirectory: String? = nil, packageFile: String? = nil, files: [FileRule],
        landlock: Bool = true,
        scratchBytes: UInt64 = 64 << 20, network: NetworkPolicy = NetworkPolicy(), nice: Int32 = 10
    ) {
        self.identity = identity
        self.packageDirectory = packageDirectory
        self.packageFile = packageFile
        self.files = files
        self.landlock = landlock
        self.scratchBytes = scratchBytes
        self.network = network
        self.nice = nice
    }

    /// The directory a stub's view covers (RT_STUB_ROOT of the spawn shim).
    public static let viewRoot = "/tmp"
    /// Where the stub finds its package, in its own mount namespace (read-only).
    public static let packagePath = "/tmp/package"
    /// Its scratch directory: its working directory, HOME and TMPDIR (a tmpfs of ``scratchBytes``).
    public static let scratchPath = "/tmp/scratch"

    /// `path` as the stub sees it: the package directory and the working directory moved to their places
    /// in its view; `:`-separated lists (PYTHONPATH) entry by entry.
    func mapped(_ value: String, workingDirectory: String) -> String {
        guard value.contains(":") else { return mappedPath(value, workingDirectory: workingDirectory) }
        return value.split(separator: ":", omittingEmptySubsequences: false).map {
            mappedPath(String($0), workingDirectory: workingDirectory)
        }.joined(separator: ":")
    }

    private func mappedPath(_ path: String, workingDirectory: String) -> String {
        if path == workingDirectory { return Self.scratchPath }
        if let packageFile {
            let name = packageFile.split(separator: "/").last.map(String.init) ?? "package"
            if path == packageFile { return Self.packagePath + "/" + name }
            if path == packageDirectory { return Self.packagePath }
            return path
        }
        guard let packageDirectory else { return path }
        if path == packageDirectory { return Self.packagePath }
        if path.hasPrefix(packageDirectory + "/") { return Self.packagePath + path.dropFirst(packageDirectory.count) }
        return path
    }

    /// The identity this process can give stubs: its own uids when root, else a user namespace.
    public static var availableIdentity: Identity {
        geteuid() == 0 ? .dedicated : .userNamespace
    }

    /// The system files every stub may read: the dynamic loader's cache, name resolution, CA
    /// certificates, time zones, OpenSSL's configuration, and the harmless devices.
    public static let systemFiles: [FileRule] = [
        FileRule("/usr/lib", .readExecute), FileRule("/usr/lib64", .readExecute), FileRule("/usr/share", .read),
        FileRule("/etc/ld.so.cache", .read), FileRule("/etc/resolv.conf", .read), FileRule("/etc/hosts", .read),
        FileRule("/etc/nsswitch.conf", .read), FileRule("/etc/host.conf", .read), FileRule("/etc/gai.conf", .read),
        FileRule("/etc/services", .read), FileRule("/etc/protocols", .read), FileRule("/etc/localtime", .read),
        FileRule("/etc/locale.alias", .read),
        FileRule("/etc/ssl/certs", .read), FileRule("/etc/ssl/openssl.cnf", .read),
        FileRule("/etc/ca-certificates", .read), FileRule("/dev/null", .readWrite), FileRule("/dev/zero", .read),
        FileRule("/dev/urandom", .read), FileRule("/dev/random", .read),
    ]
}
