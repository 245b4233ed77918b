import Dispatch
import Glibc
import Logging
import RethinkSandbox
import Testing

/// What a sandboxed child printed and how it ended.
struct StubRun {
    let process: SandboxedProcess
    let stdout: String
    let stderr: String
    let status: RethinkSandbox.ExitStatus

    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

enum TestSupport {
    static let logger = Logger(label: "rethink.sandbox.tests")

    /// A small complete environment, as the daemon gives its stubs.
    static func environment(home: String) -> [String: String] {
        ["PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"]
    }

    /// A fresh directory for one test's child to work in.
    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/rethink-sandbox-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        return try #require(path, "mkdtemp failed: errno \(errno)")
    }

    static func request(
        _ executable: String,
        _ arguments: [String],
        language: StubLanguage = .executable,
        defaultAction: SandboxPolicy.DefaultAction = .errno,
        workingDirectory: String = "/tmp",
        environment: [String: String]? = nil
    ) -> SpawnRequest {
        SpawnRequest(
            executable: executable,
            arguments: [executable] + arguments,
            environment: environment ?? self.environment(home: workingDirectory),
            workingDirectory: workingDirectory,
            policy: .forLanguage(language, defaultAction: defaultAction))
    }

    /// Spawns, feeds `input` on stdin, reads stdout and stderr to the end and waits for onExit.
    static func run(_ request: SpawnRequest, in sandbox: Sandbox, input: String = "") async throws -> StubRun {
        let (exits, exitContinuation) = AsyncStream.makeStream(of: RethinkSandbox.ExitStatus.self)
        let process = try await sandbox.spawn(request) { status in
            exitContinuation.yield(status)
            exitContinuation.finish()
        }
        let (stdout, stderr) = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                writeAll(input, to: process.stdinFD)
                close(process.stdinFD)
                let stdout = readAll(process.stdoutFD)
                let stderr = readAll(process.stderrFD)
                close(process.stdoutFD)
                close(process.stderrFD)
                continuation.resume(returning: (stdout, stderr))
            }
        }
        let status = try await firstExit(of: exits)
        return StubRun(process: process, stdout: stdout, stderr: stderr, status: status)
    }

    /// The status onExit reported, failing the test after `seconds` if it never came.
    static func firstExit(of exits: AsyncStream<RethinkSandbox.ExitStatus>, seconds: Int = 20) async throws
        -> RethinkSandbox.ExitStatus
    {
        try await withThrowingTaskGroup(of: RethinkSandbox.ExitStatus?.self) { group in
            group.addTask {
                for await status in exits { return status }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return try #require(first, "onExit was not called within \(seconds) s")
        }
    }

    /// The names of this process's threads (`/proc/self/task/*/comm`).
    static func threadNames() -> [String] {
        guard let tasks = opendir("/proc/self/task") else { return [] }
        defer { closedir(tasks) }
        var names: [String] = []
        while let entry = readdir(tasks) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard tid.first?.isNumber == true else { continue }
            let fd = open("/proc/self/task/\(tid)/comm", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            names.append(String(decoding: readAll(fd).utf8.filter { $0 != 10 }, as: UTF8.self))
            close(fd)
        }
        return names
    }

    static func writeAll(_ text: String, to fd: CInt) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    static func readAll(_ fd: CInt) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The hostile stub is built next to the test bundle: search the directory of
    /// /proc/self/exe and its parents for it.
    static func hostileStubPath() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        try #require(length > 0, "cannot read /proc/self/exe")
        var directory = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for _ in 0..<4 {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            let candidate = directory + "/rethink-hostile-stub"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        let advice = "build it with `swift build --product rethink-hostile-stub` using the same scratch path"
        Issue.record("rethink-hostile-stub is not built next to the test bundle (\(directory)); \(advice)")
        throw HostileStubMissing()
    }

    struct HostileStubMissing: Error {}

    static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A bound socket on 127.0.0.1 (listening when TCP and `listening`), and its port; the caller closes it.
    static func listener(_ type: Int32, listening: Bool = true) throws -> (fd: CInt, port: UInt16) {
        let fd = socket(AF_INET, type, 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(bound)
        if listening, type == Int32(SOCK_STREAM.rawValue) { try #require(listen(fd, 8) == 0) }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

}
