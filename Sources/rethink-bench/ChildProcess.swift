#if canImport(Glibc)
    import Glibc
#endif

/// A child started with posix_spawn, its stdin and stdout on pipes: the same two pipes the daemon's MiniBUS
/// uses, with none of its sandboxing (the baseline measures transport only).
struct ChildProcess {
    let pid: pid_t
    /// Write end of the child's stdin.
    let input: Int32
    /// Read end of the child's stdout.
    let output: Int32

    static func spawn(_ path: String, arguments: [String]) throws -> ChildProcess {
        var stdinPipe: [Int32] = [0, 0]
        var stdoutPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0 else { throw BenchError("pipe failed: \(Posix.errorText())") }
        guard pipe(&stdoutPipe) == 0 else {
            close(stdinPipe[0])
            close(stdinPipe[1])
            throw BenchError("pipe failed: \(Posix.errorText())")
        }
        // Close-on-exec so later connections' children do not hold these pipes open; only the relay's
        // accepting thread spawns, so nothing can fork between pipe() and here.
        for fd in stdinPipe + stdoutPipe { Posix.closeOnExec(fd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, nil, argv, environment)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        guard status == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            throw BenchError("cannot start \(path): \(Posix.errorText(status)); is it the rethink-echo-stub binary?")
        }
        return ChildProcess(pid: pid, input: stdinPipe[1], output: stdoutPipe[0])
    }

    /// Reaps the child.
    func wait() {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
