import Foundation

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A helper process for tests, started with posix_spawn and waited for by its pid only.
///
/// Why not Foundation's `Process`: in a test process that also hosts daemons, it closed descriptors it did
/// not own (a stub's pidfd, seen in /proc/self/fdinfo) and reaped children that were not its own.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let outputFD: CInt
    private var status: Int32?
    /// What ``waitForOutput(containing:timeout:)`` read; ``readOutput()`` returns it first.
    private var captured: [UInt8] = []

    /// Starts `executable`; its stdout is captured when `captureOutput` is true, its stderr goes to /dev/null
    /// (or is appended to `stderrPath`).
    public init(_ executable: String, _ arguments: [String], captureOutput: Bool = false, stderrPath: String? = nil) throws {
        var fds: [CInt] = [-1, -1]
        if captureOutput {
            guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if captureOutput {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(
            &actions, 2, stderrPath ?? "/dev/null", stderrPath == nil ? O_WRONLY : O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
        if captureOutput { close(fds[1]) }
        guard result == 0 else {
            if captureOutput { close(fds[0]) }
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOENT)
        }
        pid = child
        outputFD = captureOutput ? fds[0] : -1
    }

    /// Everything the child wrote to stdout, once it closed it.
    public func readOutput() -> String {
        guard outputFD >= 0 else { return "" }
        var data = captured
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(outputFD, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        close(outputFD)
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads the child's stdout until it holds `marker`, it is closed, or `timeout` seconds pass; true if the
    /// marker came. For a child that is to be stopped once it has shown something: a signal sent before it
    /// has read and written what it was sent would lose it.
    public func waitForOutput(containing marker: String, timeout: TimeInterval) -> Bool {
        guard outputFD >= 0 else { return false }
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: captured, as: UTF8.self).contains(marker) {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var poller = pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&poller, 1, left) > 0 else { return false }
            let count = read(outputFD, &buffer, buffer.count)
            if count <= 0 { return false }
            captured.append(contentsOf: buffer[0..<count])
        }
        return true
    }

    /// Waits for the child and returns its raw wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0, errno == EINTR {}
        status = raw
        return raw
    }

    public var exitCode: Int32 { (wait() >> 8) & 0xFF }

    public var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid {
            status = raw
            return false
        }
        return true
    }
}
