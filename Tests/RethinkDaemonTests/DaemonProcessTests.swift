import Foundation
import RethinkClient
import RethinkMessages
import Testing

/// The `rethink-runtimed` binary as an operator runs it: flags, SIGTERM, and no orphans when it dies.
@Suite(.timeLimit(.minutes(2)))
struct DaemonProcessTests {
    final class RunningDaemon {
        var process: ChildProcess!
        let directory: URL
        var socket: String { directory.appendingPathComponent("rt.sock").path }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("rethink-proc-\(UUID().uuidString.prefix(8))")
            let catalogue = directory.appendingPathComponent("catalogue")
            try FileManager.default.createDirectory(at: catalogue, withIntermediateDirectories: true)
            try Data(TestRuntime.native.jsonBytes).write(to: catalogue.appendingPathComponent("native.example.json"))
            try Data(TestRuntime.testing().jsonBytes).write(to: catalogue.appendingPathComponent("py.example.json"))
            let config: JSONValue = ["pythonPath": [.string(Paths.stubKit)], "logLevel": "debug"]
            try Data(config.jsonBytes).write(to: directory.appendingPathComponent("config.json"))
            process = try ChildProcess(
                Paths.product("rethink-runtimed"),
                [
                    "--config", directory.appendingPathComponent("config.json").path, "--socket", socket, "--state-dir",
                    directory.appendingPathComponent("state").path, "--catalogue", catalogue.path, "--response-timeout", "5",
                ])
            let deadline = Date().addingTimeInterval(10)
            while !FileManager.default.fileExists(atPath: socket), Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        }

        func cleanUp() {
            if process.isRunning {
                kill(process.pid, SIGKILL)
                process.wait()
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private func stubPIDs(_ client: RuntimeClient) async throws -> [Int32] {
        let listing = try await client.request(.read, to: client.greeting.runtimeURL + "/registry")
        return (listing.bodyValue?.arrayValue ?? []).compactMap { $0["pid"]?.intValue.map(Int32.init) }
    }

    private func waitUntilGone(_ pids: [Int32], seconds: Double = 5) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if pids.allSatisfy({ !isAlive($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Alive and not a zombie waiting for a late reaper.
    private func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    @Test func sigtermUndeploysStubsAndRemovesTheSocket() async throws {
        let daemon = try RunningDaemon()
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://native.example/x").code == 200)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let pids = try await stubPIDs(client)
        #expect(pids.count == 2)
        kill(daemon.process.pid, SIGTERM)
        #expect(daemon.process.exitCode == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        #expect(await waitUntilGone(pids))
    }

    @Test func killingTheDaemonLeavesNoOrphanStub() async throws {
        let daemon = try RunningDaemon()
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://native.example/x").code == 200)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let pids = try await stubPIDs(client)
        #expect(pids.count == 2)
        kill(daemon.process.pid, SIGKILL)
        daemon.process.wait()
        #expect(await waitUntilGone(pids), "PR_SET_PDEATHSIG ends every stub with the daemon")
    }

    @Test func aBadConfigurationIsRefusedWithTheSettingNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rethink-cfg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.json").path
        try Data(#"{"responseTimout": 3}"#.utf8).write(to: URL(fileURLWithPath: path))
        let process = try ChildProcess(
            "/bin/sh", ["-c", "\"$0\" --config \"$1\" --socket \"$2\" 2>&1", Paths.product("rethink-runtimed"), path, directory.appendingPathComponent("s").path],
            captureOutput: true)
        let text = process.readOutput()
        #expect(process.exitCode != 0)
        #expect(text.contains("responseTimout"))
    }
}
