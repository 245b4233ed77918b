import Foundation

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A real systemd-journald for one test: a journal namespace of its own (`systemd-journald NAME`, sockets
/// under `/run/systemd/journal.NAME/`), read back with `journalctl --namespace=NAME -o json`, stopped by PID
/// and its files removed.
public final class StandaloneJournald: @unchecked Sendable {
    public static let binary = "/lib/systemd/systemd-journald"
    public let namespace: String
    private let process: ChildProcess
    public var socketPath: String { "/run/systemd/journal.\(namespace)/socket" }

    public init() throws {
        namespace = "rethinktest\(UInt32.random(in: 0...UInt32.max))"
        process = try ChildProcess(Self.binary, [namespace])
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socketPath), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        guard FileManager.default.fileExists(atPath: socketPath) else {
            stop()
            throw POSIXError(.ETIMEDOUT)
        }
    }

    /// Every entry so far, as journalctl prints them (`--all`: values over 4096 bytes too).
    public func entries() throws -> [[String: Any]] {
        let journalctl = try ChildProcess(
            "/usr/bin/journalctl", ["--namespace=\(namespace)", "-o", "json", "--all", "--no-pager"],
            captureOutput: true)
        let output = journalctl.readOutput()
        journalctl.wait()
        return output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Waits (at most `seconds`) for entries that match.
    public func waitForEntries(seconds: Double = 10, where include: ([String: Any]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let found = try entries().filter(include)
            if !found.isEmpty || Date() > deadline { return found }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    public func pause() { kill(process.pid, SIGSTOP) }
    public func resume() { kill(process.pid, SIGCONT) }

    public func stop() {
        kill(process.pid, SIGCONT)
        kill(process.pid, SIGTERM)
        process.wait()
        for directory in ["/var/log/journal", "/run/log/journal"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names where name.hasSuffix(".\(namespace)") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            }
        }
        try? FileManager.default.removeItem(atPath: "/run/systemd/journal.\(namespace)")
    }
}
