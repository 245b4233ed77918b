import CRethinkSpawn
import Glibc

/// The confinement of one spawn, worked out in the parent before the fork: the stub's ids, its
/// Landlock ruleset (an fd, closed after the spawn), the scratch tmpfs options, and what will show.
struct PreparedConfinement: @unchecked Sendable {
    let isolation: Isolation
    /// The id taken from the pool (given back when the stub exits).
    let poolUID: UInt32?
    let rulesetFD: CInt
    let landlockABI: Int
    let scratchOptions: String
    /// Paths the stub needs that lie below the view's root on the host (a stub kit in a checkout under
    /// /tmp): bound read-only at their own place in its view.
    let keptPaths: [String]
    let summary: Confinement

    /// Fills the shim's configuration with this confinement (the scratch options are set by the caller,
    /// which holds their C string).
    func apply(to config: inout rt_spawn_config) {
        config.notify = 1
        config.drop_capabilities = 1
        // The stub starts at the daemon's priority (its start-up is part of a first contact's latency) and
        // is lowered a second after it has answered its deploy message (SandboxedProcess.lowerPriority()); a stub that
        // never answers is stopped after the handshake timeout.
        config.nice = 0
        config.ruleset_fd = rulesetFD
        config.scratch_access = rulesetFD >= 0 ? Landlock.scratchRights(abi: landlockABI) : 0
        config.self_access = rulesetFD >= 0 ? Landlock.rights(for: .read, abi: landlockABI) : 0
        // ABI 7: the kernel's audit reports denials after the exec too (what LandlockAudit logs).
        config.landlock_flags = rulesetFD >= 0 && landlockABI >= 7 ? Landlock.logNewExec : 0
        switch isolation.identity {
        case .dedicated:
            config.namespaces = CInt(RT_NS_MOUNT)
            config.uid = poolUID ?? RT_ID_KEEP
            config.gid = poolUID ?? RT_ID_KEEP
        case .userNamespace:
            config.namespaces = CInt(RT_NS_USER)
            config.inner_uid = poolUID ?? getuid()
            config.inner_gid = poolUID ?? getgid()
            config.outer_uid = getuid()
            config.outer_gid = getgid()
        }
    }

    func closeRuleset() {
        if rulesetFD >= 0 { close(rulesetFD) }
    }
}

extension Sandbox {
    /// The TCP ports Landlock lists for a stub; beyond this many (wide ranges) TCP is left to the supervisor.
    static let maxLandlockPorts = 256

    func prepareConfinement(for request: SpawnRequest) throws(SandboxError) -> PreparedConfinement? {
        guard let isolation = request.policy.isolation else { return nil }
        guard let uid = identities.take() else {
            throw SandboxError(
                .spawn,
                "cannot start \(request.executable): every uid of sandbox.uids (\(identities.range)) runs a stub; widen the range",
                step: .identity)
        }
        let abi = isolation.landlock ? Landlock.abi : 0
        var rulesetFD: CInt = -1
        if abi > 0 {
            var ports: [UInt16] = [53]
            for destination in isolation.network.connect where ports.count <= Self.maxLandlockPorts {
                ports += Array(destination.ports.prefix(Self.maxLandlockPorts + 1))
            }
            let rules = isolation.files + [Isolation.FileRule(request.executable, .readExecute)]
            do {
                rulesetFD = try Landlock.ruleset(
                    for: rules, ports: ports.count > Self.maxLandlockPorts ? nil : ports, abi: abi)
            } catch {
                identities.give(uid)
                throw error
            }
        }
        let keptPaths = try Self.keptPaths(for: request, isolation: isolation)
        var options = "size=\(isolation.scratchBytes),nr_inodes=4096,mode=0700"
        if isolation.identity == .dedicated { options += ",uid=\(uid),gid=\(uid)" }
        let summary = Confinement(
            uid: isolation.identity == .dedicated ? uid : getuid(),
            namespaceUID: isolation.identity == .userNamespace ? uid : nil, landlockABI: abi,
            seccompProfile: request.policy.language.rawValue, networkSupervised: true,
            networkRules: isolation.network.ruleCount, scratchBytes: isolation.scratchBytes,
            limits: request.policy.limits, nice: isolation.nice)
        return PreparedConfinement(
            isolation: isolation, poolUID: uid, rulesetFD: rulesetFD, landlockABI: abi, scratchOptions: options,
            keptPaths: keptPaths, summary: summary)
    }

    /// The Landlock paths (and the executable) below the view's root, outermost only, existing ones only.
    static func keptPaths(for request: SpawnRequest, isolation: Isolation) throws(SandboxError) -> [String] {
        let root = Isolation.viewRoot + "/"
        let package = isolation.packageFile ?? isolation.packageDirectory
        let candidates = (isolation.files.map(\.path) + [request.executable]).filter { path in
            path.hasPrefix(root) && path != package && !(package.map { path.hasPrefix($0 + "/") } ?? false)
                && !path.hasPrefix(Isolation.packagePath) && !path.hasPrefix(Isolation.scratchPath)
                && access(path, F_OK) == 0
        }
        let outermost = Set(candidates).filter { path in
            !candidates.contains { $0 != path && path.hasPrefix($0 + "/") }
        }.sorted()
        guard outermost.count <= 16 else {
            throw SandboxError(
                .invalidRequest,
                "cannot start \(request.executable): more than 16 of the paths it needs lie under \(Isolation.viewRoot); move the stub kit or interpreter elsewhere",
                step: .validation)
        }
        return outermost
    }
}
