import CRethinkSpawn
import Dispatch
import Glibc
import Logging
import Synchronization

/// Starts stubs as confined children: own session, only fds 0-2, a complete environment of the
/// caller's choosing, rlimits, no new privileges and a seccomp allowlist for their language.
///
/// Every child is forked from a few dedicated threads (see ``SpawnerPool``), because the death
/// signal that kills stubs when the daemon dies is tied to the forking thread. Shutting the
/// sandbox down, or releasing it, ends those threads and so kills every stub still running.
public final class Sandbox: Sendable {
    private let logger: Logger
    private let spawner: SpawnerPool
    private let programs = SeccompProgramCache()
    private let exitQueue = DispatchQueue(label: "rethink.sandbox.exits", attributes: .concurrent)
    /// The uids stubs get (a dedicated one each when the daemon is root; inside their user namespace otherwise).
    public let identities: IdentityPool
    private let supervisor: NetworkSupervisor
    private let running = Mutex<Set<Int32>>([])

    /// Starts the spawner and supervisor threads. Filters are compiled on first use.
    /// `spawners` is how many children may be setting themselves up at once (``SpawnerPool``);
    /// `spawnHelpers` false has each spawner thread fork the daemon itself instead of its helper;
    /// `helperExecutable` is the program the helpers exec (by default ``installedHelperExecutable``; nil, or
    /// one that cannot start, leaves them forks of this process).
    public init(
        logger: Logger, identities: IdentityPool = IdentityPool(range: IdentityPool.defaultRange),
        spawners: Int = Sandbox.defaultSpawnerCount, spawnHelpers: Bool = true,
        helperExecutable: String? = Sandbox.installedHelperExecutable
    ) throws(SandboxError) {
        self.logger = logger
        self.identities = identities
        self.spawner = try SpawnerPool(size: spawners, helpers: spawnHelpers, helperExecutable: helperExecutable)
        self.supervisor = try NetworkSupervisor(logger: logger)
    }

    /// Marks this process non-dumpable (`PR_SET_DUMPABLE` 0): no process of its uid, a stub in a user
    /// namespace included, may open its `/proc/<pid>/mem`, trace it or read its environment. The daemon
    /// calls it once at start-up. Returns false when the kernel refused.
    public static func markNonDumpable() -> Bool {
        rt_set_non_dumpable() == 0
    }

    /// Logs, once per stub and path, the files (and signals, and sockets) Landlock refuses stubs, read from
    /// the kernel's audit; with `enable` it turns the audit on if it is off. Returns why it cannot (the
    /// daemon logs it once), nil when it watches.
    public func watchLandlockDenials(enable: Bool) -> String? {
        guard Landlock.abi >= 7 else {
            return "this kernel's Landlock (ABI \(Landlock.abi)) reports no denials; refused file accesses are not logged"
        }
        switch LandlockAudit.open(enable: enable, logger: logger) {
        case .success(let audit):
            supervisor.watch(audit)
            return nil
        case .failure(.noAccess(let reason)):
            return "cannot read the kernel's audit (\(reason); it needs CAP_AUDIT_READ): refused file accesses are not logged, only refused connections"
        case .failure(.auditOff):
            return "the kernel's audit is off (audit=1 on the kernel command line, or auditctl -e 1, turns it on): refused file accesses are not logged, only refused connections"
        }
    }

    /// How many spawner threads a sandbox starts unless told: two per core, two to eight.
    public static var defaultSpawnerCount: Int { SpawnerPool.defaultSize }

    /// How many spawner threads this sandbox runs.
    public var spawnerCount: Int { spawner.size }

    /// The pids of the spawn helpers (one per spawner thread unless turned off or refused by the kernel;
    /// see ``SpawnerPool``), for operators and tests.
    public var spawnHelperPIDs: [Int32] { spawner.helpers }

    /// Does now what the first stub's deploy would otherwise pay for (about 3 ms, which made it first contact's
    /// slowest, its p99, in `make bench`): compiles the allowlist of every language under `defaultAction`,
    /// and the supervision filter when stubs are `confined`. The daemon calls it once at start-up; a failure
    /// here is met again, and reported, by the first spawn that needs it. (Opening ``StablePaths``'
    /// directories here too was tried: every later deploy's package phase then took 0.3-0.5 ms longer, for
    /// a reason not yet understood, so they are still opened by the first deploy.)
    public func prepare(defaultAction: SandboxPolicy.DefaultAction, confined: Bool) throws(SandboxError) {
        for language in StubLanguage.allCases {
            _ = try programs.program(for: SandboxPolicy.forLanguage(language, defaultAction: defaultAction))
        }
        if confined { _ = try programs.supervision() }
    }

    /// How many spawn helpers run the helper executable (the rest, if any, are forks of this process).
    public var executedSpawnHelperCount: Int { spawner.executedHelperCount }

    /// The helper executable the spawn helpers exec: `rethink-spawn-helper` beside this process's own
    /// executable (as `make install` puts them), if it is a regular executable file that only this process's
    /// user or root can write, in a directory only they can write; nil otherwise (the helpers then stay
    /// forks of the daemon: slower, as safe). The helper runs with the daemon's identity and clones every
    /// stub, so a file anyone else could replace would be theirs to run as the daemon.
    public static var installedHelperExecutable: String? { installedExecutable(named: "rethink-spawn-helper") }

    /// The program `name` beside this process's own executable, if ``trustedExecutable(_:)`` holds for it.
    public static func installedExecutable(named name: String) -> String? {
        guard let directory = ownExecutableDirectory else { return nil }
        let path = (directory == "/" ? "" : directory) + "/" + name
        return trustedExecutable(path) ? path : nil
    }

    /// The directory of this process's own executable (`/proc/self/exe`), where `make install` puts the
    /// programs that ship with the daemon; nil when it cannot be read.
    public static var ownExecutableDirectory: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return parent(of: String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// The directory part of an absolute path: "/" for a file at the root.
    private static func parent(of path: String) -> String {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory.isEmpty ? "/" : directory
    }

    /// The spawn helpers' program as given to this sandbox (nil: none; see ``executedSpawnHelperCount`` for
    /// how many run it).
    public var spawnHelperExecutable: String? { spawner.helperExecutable }

    /// Whether `path` is a regular executable file that only root or this process's user can write, in a directory only
    /// they can write: a program the daemon may run for itself (the spawn helper, the fetcher).
    public static func trustedExecutable(_ path: String) -> Bool {
        let owner = geteuid()
        func ownedAndClosed(_ path: String, directory: Bool) -> Bool {
            var info = stat()
            guard stat(path, &info) == 0 else { return false }
            let kind = info.st_mode & S_IFMT
            guard kind == (directory ? S_IFDIR : S_IFREG) else { return false }
            guard info.st_uid == owner || info.st_uid == 0 else { return false }
            return info.st_mode & (S_IWGRP | S_IWOTH) == 0
        }
        return ownedAndClosed(path, directory: false) && ownedAndClosed(parent(of: path), directory: true)
            && access(path, X_OK) == 0
    }

    /// The Landlock ABI stubs are restricted with (0: this kernel has none).
    public static var landlockABI: Int { Landlock.abi }

    /// Whether `pid` is one of this sandbox's running stubs (a client connection from it is refused).
    public func isStub(pid: Int32) -> Bool {
        running.withLock { $0.contains(pid) }
    }

    deinit {
        spawner.stop()
    }

    /// Starts `request.executable` under `request.policy`.
    ///
    /// `onExit` is called exactly once, on a background queue, after the child has been reaped
    /// and its pidfd closed. It is given here rather than later so that no exit can be missed.
    /// Keep it short: it runs on a queue shared by all stubs' exits.
    /// `metadata` goes on every log line about the stub (its journal fields), the supervisor's included.
    public func spawn(
        _ request: SpawnRequest,
        metadata: Logger.Metadata = [:],
        onExit: @escaping @Sendable (ExitStatus) -> Void
    ) async throws(SandboxError) -> SandboxedProcess {
        try validate(request)
        let program = try programs.program(for: request.policy)
        let supervision = request.policy.isolation != nil ? try programs.supervision() : nil
        let confinement = try prepareConfinement(for: request)
        defer { confinement?.closeRuleset() }
        let stdin = try Pipe(for: "stdin", of: request.executable)
        let stdout: Pipe
        let stderr: Pipe
        do {
            stdout = try Pipe(for: "stdout", of: request.executable)
        } catch {
            stdin.closeBoth()
            throw error
        }
        do {
            stderr = try Pipe(for: "stderr", of: request.executable)
        } catch {
            stdin.closeBoth()
            stdout.closeBoth()
            throw error
        }

        let childFDs = (stdin.readEnd, stdout.writeEnd, stderr.writeEnd)
        let launched: Result<Launched, SandboxError> = await withCheckedContinuation { continuation in
            let logger = self.logger
            let accepted = spawner.submit { helper in
                let hadHelper = helper >= 0
                let launched = Self.launch(
                    request, program: program, supervision: supervision, confinement: confinement, stdio: childFDs,
                    helper: &helper)
                if hadHelper && helper < 0 {
                    logger.warning(
                        "a spawn helper went away; its spawner thread now forks stubs from the daemon itself, which costs more per stub as the daemon grows",
                        metadata: ["executable": "\(request.executable)"])
                }
                continuation.resume(returning: launched)
            }
            if !accepted {
                continuation.resume(
                    returning: .failure(
                        SandboxError(
                            .spawnerUnavailable,
                            "cannot start \(request.executable): the sandbox has been shut down; create a new Sandbox"))
                )
            }
        }
        close(stdin.readEnd)
        close(stdout.writeEnd)
        close(stderr.writeEnd)

        switch launched {
        case .failure(let error):
            close(stdin.writeEnd)
            close(stdout.readEnd)
            close(stderr.readEnd)
            if let uid = confinement?.poolUID { identities.give(uid) }
            logger.warning(
                "stub failed to start", metadata: ["executable": "\(request.executable)", "error": "\(error.message)"])
            throw error
        case .success(let child):
            let identities = self.identities
            let poolUID = confinement?.poolUID
            let pid = child.pid
            running.withLock { _ = $0.insert(pid) }
            let process = SandboxedProcess(
                pid: child.pid, pidfd: child.pidfd, stdinFD: stdin.writeEnd, stdoutFD: stdout.readEnd,
                stderrFD: stderr.readEnd, logger: logger, confinement: confinement?.summary
            ) { [weak self] status in
                self?.running.withLock { _ = $0.remove(pid) }
                if let poolUID { identities.give(poolUID) }
                onExit(status)
            }
            if child.listener >= 0, let isolation = request.policy.isolation {
                supervisor.supervise(
                    listener: child.listener, pidfd: child.pidfd, pid: child.pid, policy: isolation.network,
                    metadata: metadata.merging(["rethink_stub_pid": "\(child.pid)"]) { $1 })
            }
            process.monitorExit(on: exitQueue)
            logger.debug(
                "stub started",
                metadata: [
                    "pid": "\(child.pid)", "executable": "\(request.executable)",
                    "language": "\(request.policy.language.rawValue)",
                    "defaultAction": "\(request.policy.defaultAction.rawValue)",
                ])
            return process
        }
    }

    /// Stops the spawner threads: later spawns fail, and every stub still running gets SIGKILL.
    public func shutdown() {
        spawner.stop()
    }

    private func validate(_ request: SpawnRequest) throws(SandboxError) {
        func invalid(_ problem: String) -> SandboxError {
            SandboxError(.invalidRequest, "cannot start \(request.executable): \(problem)", step: .validation)
        }
        guard request.executable.hasPrefix("/") else {
            throw invalid("the executable must be an absolute path (no PATH lookup happens)")
        }
        guard !request.arguments.isEmpty else { throw invalid("arguments must hold at least argv[0]") }
        guard !request.workingDirectory.isEmpty else { throw invalid("the working directory is empty") }
        let strings =
            [request.executable, request.workingDirectory] + request.arguments
            + request.environment.flatMap { [$0.key, $0.value] }
        guard !strings.contains(where: { $0.utf8.contains(0) }) else {
            throw invalid("a path, argument or environment entry contains a NUL byte")
        }
        guard !request.environment.keys.contains(where: { $0.isEmpty || $0.contains("=") }) else {
            throw invalid("an environment variable name is empty or contains '='")
        }
    }

    private struct Launched {
        let pid: Int32
        let pidfd: CInt
        let listener: CInt
    }

    /// Runs on a spawner thread: the C shim forks from here, or has the thread's spawn helper fork.
    private static func launch(
        _ request: SpawnRequest,
        program: SeccompProgram,
        supervision: SeccompProgram?,
        confinement: PreparedConfinement?,
        stdio: (CInt, CInt, CInt),
        helper: inout CInt
    ) -> Result<Launched, SandboxError> {
        // With its own mount namespace the stub sees its package and scratch at fixed places (see Isolation).
        let view = { (value: String) -> String in
            confinement?.isolation.mapped(value, workingDirectory: request.workingDirectory) ?? value
        }
        let executable = view(request.executable)
        let workingDirectory = view(request.workingDirectory)
        let argv = CStringArray(request.arguments.map(view))
        let envp = CStringArray(request.environment.map { "\($0.key)=\(view($0.value))" }.sorted())
        defer {
            argv.free()
            envp.free()
        }
        let limits = request.policy.limits.shimLimits
        let cgroupFDs: [CInt] = []
        let kept = CStringArray(confinement?.keptPaths ?? [])
        defer { kept.free() }
        let keptCount = confinement?.keptPaths.count ?? 0
        var pid: pid_t = 0
        var pidfd: CInt = -1
        var listener: CInt = -1
        var failure = rt_spawn_failure()
        let result = executable.withCString { path in
            workingDirectory.withCString { cwd in
                limits.withUnsafeBufferPointer { limits in
                    program.bytes.withUnsafeBytes { bpf in
                      (supervision?.bytes ?? []).withUnsafeBytes { notifyBPF in
                        cgroupFDs.withUnsafeBufferPointer { cgroups in
                            withOptionalCString(confinement?.scratchOptions) { scratch in
                              withOptionalCString(
                                  confinement.flatMap { $0.isolation.packageFile ?? $0.isolation.packageDirectory }
                              ) { package in
                              withOptionalCString(
                                  confinement?.isolation.packageFile.map { String($0.split(separator: "/").last ?? "package") }
                              ) { packageName in
                                var config = rt_spawn_config()
                                config.path = path
                                config.argv = UnsafePointer(argv.pointer)
                                config.envp = UnsafePointer(envp.pointer)
                                config.cwd = cwd
                                config.stdin_fd = stdio.0
                                config.stdout_fd = stdio.1
                                config.stderr_fd = stdio.2
                                config.limits = limits.baseAddress
                                config.limit_count = limits.count
                                config.bpf = bpf.baseAddress
                                config.bpf_len = bpf.count
                                config.notify_bpf = notifyBPF.isEmpty ? nil : notifyBPF.baseAddress
                                config.notify_bpf_len = notifyBPF.count
                                config.cgroup_fds = cgroups.baseAddress
                                config.cgroup_fd_count = cgroups.count
                                config.ruleset_fd = -1
                                config.uid = RT_ID_KEEP
                                config.gid = RT_ID_KEEP
                                if let confinement {
                                    confinement.apply(to: &config)
                                    config.scratch_options = scratch
                                    config.package_dir = package
                                    config.package_name = packageName
                                    config.kept_paths = UnsafePointer(
                                        UnsafeRawPointer(kept.pointer).assumingMemoryBound(to: UnsafePointer<CChar>?.self))
                                    config.kept_path_count = keptCount
                                }
                                return rt_spawn(&config, &helper, &pid, &pidfd, &listener, &failure)
                              }
                              }
                      }
                            }
                        }
                    }
                }
            }
        }
        guard result == 0 else {
            let step = SpawnStep(shimStep: failure.step)
            let errorText = SandboxError.describe(errno: failure.error)
            return .failure(
                SandboxError(
                    .spawn,
                    "starting \(request.executable) failed at step \(step.rawValue): \(errorText); "
                        + step.advice(errno: failure.error),
                    step: step, errno: failure.error))
        }
        return .success(Launched(pid: pid, pidfd: pidfd, listener: listener))
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
