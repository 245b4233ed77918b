import CRethinkSpawn
import Dispatch
import Glibc
import Logging

/// Starts stubs as confined children: own session, only fds 0-2, a complete environment of the
/// caller's choosing, rlimits, no new privileges and a seccomp allowlist for their language.
///
/// Every child is forked from one dedicated thread (see ``SpawnerThread``), because the death
/// signal that kills stubs when the daemon dies is tied to the forking thread. Shutting the
/// sandbox down, or releasing it, ends that thread and so kills every stub still running.
public final class Sandbox: Sendable {
    private let logger: Logger
    private let spawner: SpawnerThread
    private let programs = SeccompProgramCache()
    private let exitQueue = DispatchQueue(label: "rethink.sandbox.exits", attributes: .concurrent)

    /// Starts the spawner thread. Filters are compiled on first use.
    public init(logger: Logger) throws(SandboxError) {
        self.logger = logger
        self.spawner = try SpawnerThread()
    }

    deinit {
        spawner.stop()
    }

    /// Starts `request.executable` under `request.policy`.
    ///
    /// `onExit` is called exactly once, on a background queue, after the child has been reaped
    /// and its pidfd closed. It is given here rather than later so that no exit can be missed.
    /// Keep it short: it runs on a queue shared by all stubs' exits.
    public func spawn(
        _ request: SpawnRequest,
        onExit: @escaping @Sendable (ExitStatus) -> Void
    ) async throws(SandboxError) -> SandboxedProcess {
        try validate(request)
        let program = try programs.program(for: request.policy)
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
        let launched: Result<(pid: Int32, pidfd: CInt), SandboxError> = await withCheckedContinuation { continuation in
            let accepted = spawner.submit {
                continuation.resume(returning: Self.launch(request, program: program, stdio: childFDs))
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
            logger.warning(
                "stub failed to start", metadata: ["executable": "\(request.executable)", "error": "\(error.message)"])
            throw error
        case .success(let child):
            let process = SandboxedProcess(
                pid: child.pid, pidfd: child.pidfd, stdinFD: stdin.writeEnd, stdoutFD: stdout.readEnd,
                stderrFD: stderr.readEnd, logger: logger, onExit: onExit)
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

    /// Stops the spawner thread: later spawns fail, and every stub still running gets SIGKILL.
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

    /// Runs on the spawner thread: the C shim forks from here.
    private static func launch(
        _ request: SpawnRequest,
        program: SeccompProgram,
        stdio: (CInt, CInt, CInt)
    ) -> Result<(pid: Int32, pidfd: CInt), SandboxError> {
        let argv = CStringArray(request.arguments)
        let envp = CStringArray(request.environment.map { "\($0.key)=\($0.value)" }.sorted())
        defer {
            argv.free()
            envp.free()
        }
        let limits = request.policy.limits.shimLimits
        var pid: pid_t = 0
        var pidfd: CInt = -1
        var failure = rt_spawn_failure()
        let result = request.executable.withCString { path in
            request.workingDirectory.withCString { cwd in
                limits.withUnsafeBufferPointer { limits in
                    program.bytes.withUnsafeBytes { bpf in
                        var config = rt_spawn_config(
                            path: path, argv: argv.pointer, envp: envp.pointer, cwd: cwd,
                            stdin_fd: stdio.0, stdout_fd: stdio.1, stderr_fd: stdio.2,
                            limits: limits.baseAddress, limit_count: limits.count,
                            bpf: bpf.baseAddress, bpf_len: bpf.count)
                        return rt_spawn(&config, &pid, &pidfd, &failure)
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
        return .success((pid, pidfd))
    }
}
