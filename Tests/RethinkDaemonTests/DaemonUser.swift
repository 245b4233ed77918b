import Foundation
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Whom the daemon runs as.
enum DaemonUser: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// As root: each stub gets a uid of its own from `sandbox.uids`.
    case root
    /// As `nobody` (through setpriv) when the tests are root, else as the tests' own user: each stub gets a
    /// user namespace of its own.
    case unprivileged

    var testDescription: String { self == .root ? "daemon as root" : "daemon unprivileged" }

    private static let nobody: (uid: uid_t, gid: gid_t) = {
        let user = getpwnam("nobody")
        let group = getgrnam("nogroup")
        return (user?.pointee.pw_uid ?? 65534, group?.pointee.gr_gid ?? user?.pointee.pw_gid ?? 65534)
    }()

    /// Whether the daemon drops to nobody, rather than running as the tests' own user.
    private var switches: Bool { self == .unprivileged && geteuid() == 0 }

    var uid: uid_t { self == .root ? 0 : switches ? Self.nobody.uid : getuid() }
    var gid: gid_t { self == .root ? 0 : switches ? Self.nobody.gid : getgid() }

    /// What runs a command as this user.
    var launcher: [String] {
        switches
            ? ["/usr/bin/setpriv", "--reuid=\(Self.nobody.uid)", "--regid=\(Self.nobody.gid)", "--clear-groups"] : []
    }

    /// Hands `path` to this user (the daemon creates its state and socket there, reads its credentials).
    func own(_ path: String) {
        if switches { _ = chown(path, uid, gid) }
    }
}
