import FoundationEssentials
import RethinkBus

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Who may deploy and undeploy stubs through `<runtimeURL>/ua`: root and members of the admin group.
public struct AdminPolicy: Sendable {
    public let adminGID: UInt32?

    public init(adminGroup: String?) {
        guard let adminGroup, let group = getgrnam(adminGroup) else {
            adminGID = nil
            return
        }
        adminGID = group.pointee.gr_gid
    }

    public func allows(_ credentials: PeerCredentials?) -> Bool {
        guard let credentials else { return false }
        if credentials.uid == 0 { return true }
        guard let adminGID else { return false }
        return credentials.gid == adminGID || AdminPolicy.supplementaryGroups(of: credentials.pid).contains(adminGID)
    }

    /// The peer's supplementary groups, from `/proc/<pid>/status` (SO_PEERCRED only carries the primary one).
    private static func supplementaryGroups(of pid: Int32) -> [UInt32] {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") })
        else { return [] }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap {
            UInt32($0)
        }
    }
}
