import CRethinkSpawn
import Glibc

/// Landlock from the daemon's side: which ABI the kernel has, and the ruleset a stub is restricted
/// with (built here, in the parent; the spawn shim adds the scratch directory and restricts itself).
///
/// Handled: every file system right of the ABI, TCP bind and connect (ABI 4; no port is granted to
/// bind, and connects go through the ``NetworkSupervisor`` anyway), and the scopes (ABI 6) that keep
/// a stub from signalling processes outside its domain and from abstract unix sockets. Landlock's
/// own ptrace rule keeps it from tracing or reading the memory of any process outside its domain.
enum Landlock {
    static let execute: UInt64 = 1 << 0
    static let writeFile: UInt64 = 1 << 1
    static let readFile: UInt64 = 1 << 2
    static let readDir: UInt64 = 1 << 3
    static let removeDir: UInt64 = 1 << 4
    static let removeFile: UInt64 = 1 << 5
    static let makeChar: UInt64 = 1 << 6
    static let makeDir: UInt64 = 1 << 7
    static let makeReg: UInt64 = 1 << 8
    static let makeSock: UInt64 = 1 << 9
    static let makeFifo: UInt64 = 1 << 10
    static let makeBlock: UInt64 = 1 << 11
    static let makeSym: UInt64 = 1 << 12
    static let refer: UInt64 = 1 << 13
    static let truncate: UInt64 = 1 << 14
    static let ioctlDev: UInt64 = 1 << 15
    static let bindTCP: UInt64 = 1 << 0
    static let connectTCP: UInt64 = 1 << 1
    static let scopeAbstractUnix: UInt64 = 1 << 0
    static let scopeSignal: UInt64 = 1 << 1
    /// landlock_restrict_self: LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (ABI 7).
    static let logNewExec: UInt32 = 1 << 1

    /// The running kernel's ABI (0 when it has none), probed once.
    static let abi: Int = {
        let version = rt_landlock_abi()
        return version > 0 ? Int(version) : 0
    }()

    /// The file system rights this ABI handles.
    static func handledFileRights(abi: Int) -> UInt64 {
        var rights: UInt64 = (1 << 13) - 1
        if abi >= 2 { rights |= refer }
        if abi >= 3 { rights |= truncate }
        if abi >= 5 { rights |= ioctlDev }
        return rights
    }

    /// Rights that make sense on a regular file (the kernel refuses directory rights there).
    static let fileOnlyRights: UInt64 = execute | writeFile | readFile | truncate | ioctlDev

    static func rights(for access: Isolation.FileRule.Access, abi: Int) -> UInt64 {
        let handled = handledFileRights(abi: abi)
        switch access {
        case .read: return (readFile | readDir) & handled
        case .readExecute: return (readFile | readDir | execute) & handled
        case .readWrite:
            return (handled & ~(execute | makeChar | makeBlock | makeSock | makeFifo | makeSym | ioctlDev))
        }
    }

    /// The scratch directory's rights: everything but executing, devices, sockets, fifos and links.
    static func scratchRights(abi: Int) -> UInt64 { rights(for: .readWrite, abi: abi) }

    /// Builds the ruleset for `rules` (paths that do not exist are skipped) and, with `ports`, the TCP
    /// ports a connect may reach (nil: too many to list, TCP is left to the supervisor alone). Returns the
    /// ruleset's fd; the caller closes it after the spawn.
    static func ruleset(for rules: [Isolation.FileRule], ports: [UInt16]?, abi: Int) throws(SandboxError) -> CInt {
        let network: UInt64 = abi >= 4 ? (ports == nil ? bindTCP : bindTCP | connectTCP) : 0
        let scopes: UInt64 = abi >= 6 ? scopeAbstractUnix | scopeSignal : 0
        let fd = rt_landlock_create_ruleset(handledFileRights(abi: abi), network, scopes)
        guard fd >= 0 else {
            let error = Glibc.errno
            throw SandboxError(
                .spawn, "cannot create a Landlock ruleset: \(SandboxError.describe(errno: error))", step: .landlock,
                errno: error)
        }
        for rule in rules {
            let rights = Self.rights(for: rule.access, abi: abi)
            let added: CInt
            if let stable = StablePaths.shared.descriptor(for: rule.path) {
                added = rt_landlock_add_fd(fd, stable.fd, stable.isDirectory ? rights : rights & fileOnlyRights)
            } else {
                added = rt_landlock_add_path(fd, rule.path, rights, fileOnlyRights)
            }
            guard added == 0 else {
                let error = Glibc.errno
                // A path that does not exist (an optional system file) grants nothing and is no error.
                if error == ENOENT || error == ENOTDIR { continue }
                close(fd)
                throw SandboxError(
                    .spawn, "Landlock refused the rule for \(rule.path): \(SandboxError.describe(errno: error))",
                    step: .landlock, errno: error)
            }
        }
        if network & connectTCP != 0, let ports {
            for port in Set(ports) where rt_landlock_add_port(fd, UInt64(port), connectTCP) != 0 {
                let error = Glibc.errno
                close(fd)
                throw SandboxError(
                    .spawn, "Landlock refused the rule for TCP port \(port): \(SandboxError.describe(errno: error))",
                    step: .landlock, errno: error)
            }
        }
        return fd
    }
}
