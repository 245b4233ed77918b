import Foundation
import RethinkClient
import RethinkDaemon
import RethinkMessages
import RethinkTestKit
import Testing

/// The `rethink-runtimed` binary as an operator runs it: flags, SIGTERM, and no orphans when it dies.
@Suite(.timeLimit(.minutes(2)))
struct DaemonProcessTests {
    final class RunningDaemon {
        var process: ChildProcess!
        let directory: URL
        var socket: String { directory.appendingPathComponent("rt.sock").path }
        var configPath: String { directory.appendingPathComponent("config.json").path }
        var cataloguePath: String { directory.appendingPathComponent("catalogue").path }
        var logPath: String { directory.appendingPathComponent("daemon.log").path }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// - Parameter catalogueInConfig: the catalogue in the configuration file (which a reload reads again)
        ///   rather than on the command line (which would override it).
        init(
            catalogueInConfig: Bool = false, extra: [(String, JSONValue)] = [],
            catalogueEntries: [(String, JSONValue)] = []
        ) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "rethink-proc-\(UUID().uuidString.prefix(8))")
            let catalogue = directory.appendingPathComponent("catalogue")
            try FileManager.default.createDirectory(at: catalogue, withIntermediateDirectories: true)
            try Data(TestRuntime.native.jsonBytes).write(to: catalogue.appendingPathComponent("native.example.json"))
            try Data(TestRuntime.testing().jsonBytes).write(to: catalogue.appendingPathComponent("py.example.json"))
            for (domain, descriptor) in catalogueEntries {
                try Data(descriptor.jsonBytes).write(to: catalogue.appendingPathComponent("\(domain).json"))
            }
            try writeConfiguration(catalogues: catalogueInConfig ? [catalogue.path] : [], extra: extra)
            process = try ChildProcess(
                Paths.product("rethink-runtimed"),
                [
                    "--config", configPath, "--socket", socket, "--state-dir",
                    directory.appendingPathComponent("state").path, "--response-timeout", "5",
                ] + (catalogueInConfig ? [] : ["--catalogue", catalogue.path]), stderrPath: logPath)
            let deadline = Date().addingTimeInterval(10)
            while !FileManager.default.fileExists(atPath: socket), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }

        /// Waits until the daemon's log holds `text` (a reload's outcome, say), at most 10 s; whether it does.
        func waitForLog(_ text: String) async throws -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while !log.contains(text), Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            return log.contains(text)
        }

        func writeConfiguration(catalogues: [String], extra: [(String, JSONValue)] = []) throws {
            var config: [(String, JSONValue)] = [("pythonPath", [.string(Paths.stubKit)]), ("logLevel", "debug")]
            if !catalogues.isEmpty { config.append(("catalogues", .array(catalogues.map { .string($0) }))) }
            try Data(JSONValue.object(config + extra).jsonBytes).write(to: URL(fileURLWithPath: configPath))
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

    /// Deploys the native and the Python stub through a client of `daemon`; returns their PIDs.
    private func deployBothStubs(_ daemon: RunningDaemon) async throws -> [Int32] {
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://native.example/x").code == 200)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let pids = try await stubPIDs(client)
        #expect(pids.count == 2)
        return pids
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
        let pids = try await deployBothStubs(daemon)
        kill(daemon.process.pid, SIGTERM)
        #expect(daemon.process.exitCode == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        #expect(await waitUntilGone(pids))
    }

    @Test func sighupReloadsTheConfigurationKeepingClientsAndStubsAndRefusesABadOne() async throws {
        let daemon = try RunningDaemon(catalogueInConfig: true)
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.execute, to: "hyperty://py.example/x", body: ["value": "1"]).code == 200)
        let pids = try await stubPIDs(client)
        let extra = daemon.directory.appendingPathComponent("extra")
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        for domain in ["one.example", "two.example"] {
            try Data(TestRuntime.testing().jsonBytes).write(to: extra.appendingPathComponent("\(domain).json"))
        }
        #expect(try await client.request(.execute, to: "hyperty://one.example/x", body: ["value": "1"]).code == 404)

        try daemon.writeConfiguration(catalogues: [daemon.cataloguePath, extra.path])
        kill(daemon.process.pid, SIGHUP)
        #expect(try await daemon.waitForLog("configuration reloaded from"))
        #expect(try await client.request(.execute, to: "hyperty://one.example/x", body: ["value": "2"]).code == 200)

        // A bad configuration (and one without the extra catalogue): refused, so two.example still resolves.
        try daemon.writeConfiguration(catalogues: [daemon.cataloguePath], extra: [("queueLimit", 0)])
        kill(daemon.process.pid, SIGHUP)
        #expect(try await daemon.waitForLog("configuration not reloaded"))
        #expect(try await client.request(.execute, to: "hyperty://two.example/x", body: ["value": "3"]).code == 200)
        #expect(try await client.request(.execute, to: "hyperty://py.example/x", body: ["value": "3"]).code == 200)
        #expect(try await stubPIDs(client).contains(pids[0]), "the first stub kept running through both reloads")
        #expect(daemon.process.isRunning)
    }

    @Test func killingTheDaemonLeavesNoOrphanStub() async throws {
        let daemon = try RunningDaemon()
        defer { daemon.cleanUp() }
        let pids = try await deployBothStubs(daemon)
        kill(daemon.process.pid, SIGKILL)
        daemon.process.wait()
        #expect(await waitUntilGone(pids), "PR_SET_PDEATHSIG ends every stub with the daemon")
    }

    @Test func aCrashedThenUndeployedStubLeavesNoDescriptorAndNoZombieBehind() async throws {
        let daemon = try RunningDaemon()
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        // What a stub holds in the daemon: its three pipes and its pidfd. (libdispatch opens a timerfd of its
        // own on first use, for good; that is not the stub's.)
        let descriptors = {
            let directory = "/proc/\(daemon.process.pid)/fd"
            let links = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")
            }
            return links.filter { $0.hasPrefix("pipe:") || $0.contains("pidfd") }.count
        }
        let before = descriptors()
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let firstPID = try #require(try await stubPIDs(client).first)
        let crash = try await client.request(
            .execute, to: "hyperty://py.example/x", body: ["value": ["action": "crash", "code": 2]])
        #expect(crash.code == 502)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200, "redeployed")
        let secondPID = try #require(try await stubPIDs(client).first)
        let undeploy = try await client.request(
            .delete, to: client.greeting.runtimeURL + "/ua", body: ["value": ["domain": "py.example"]])
        #expect(undeploy.code == 200)
        #expect(await waitUntilGone([firstPID, secondPID]))
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(firstPID)"), "reaped, not a zombie")
        let deadline = Date().addingTimeInterval(3)
        while descriptors() != before, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(descriptors() == before, "every pipe and pidfd of both stubs was closed")
    }

    @Test func aBadConfigurationIsRefusedWithTheSettingNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-cfg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.json").path
        try Data(#"{"responseTimout": 3}"#.utf8).write(to: URL(fileURLWithPath: path))
        let process = try ChildProcess(
            "/bin/sh",
            [
                "-c", "\"$0\" --config \"$1\" --socket \"$2\" 2>&1", Paths.product("rethink-runtimed"), path,
                directory.appendingPathComponent("s").path,
            ],
            captureOutput: true)
        let text = process.readOutput()
        #expect(process.exitCode != 0)
        #expect(text.contains("responseTimout"))
    }
}

/// Socket activation: of the sockets systemd passes, the daemon serves the one named `runtime` (the socket
/// unit's `FileDescriptorName=`) and closes the others.
@Test func socketActivationServesTheDescriptorNamedRuntime() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "rethink-activate-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let other = directory.appendingPathComponent("other.sock").path
    let runtime = directory.appendingPathComponent("runtime.sock").path
    let activator = try ChildProcess(
        "/usr/bin/systemd-socket-activate",
        [
            "-l", other, "-l", runtime, "--fdname=other:runtime", Paths.product("rethink-runtimed"),
            "--socket", directory.appendingPathComponent("unused.sock").path,
            "--state-dir", directory.appendingPathComponent("state").path,
        ])
    defer {
        kill(activator.pid, SIGKILL)
        activator.wait()
    }
    try await Paths.waitForFile(runtime)
    let client = try await RuntimeClient.connect(socketPath: runtime)
    #expect(client.greeting.clientURL.hasPrefix("hyperty-runtime://localhost/"))
    #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("unused.sock").path))
    #expect(connectionRefused(at: other), "the descriptor not named runtime is closed")
}

/// True when a stream connect to `path` is refused: nothing holds a listening socket there.
private func connectionRefused(at path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return result != 0 && errno == ECONNREFUSED
}

/// Asked for the journal where none runs, the daemon says so and logs plain lines on stderr.
@Test func withoutAJournalSocketTheDaemonLogsPlainLinesOnStderr() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "rethink-stderr-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let config: JSONValue = ["journalSocket": .string(directory.appendingPathComponent("no-journal").path)]
    let configPath = directory.appendingPathComponent("config.json").path
    try Data(config.jsonBytes).write(to: URL(fileURLWithPath: configPath))
    let socketPath = directory.appendingPathComponent("s").path
    let daemon = try ChildProcess(
        "/bin/sh",
        [
            "-c", "exec \"$0\" \"$@\" 2>&1", Paths.product("rethink-runtimed"), "--config", configPath,
            "--log-target", "journal", "--log-level", "debug", "--socket", socketPath,
            "--state-dir", directory.appendingPathComponent("state").path,
        ], captureOutput: true)
    try await Paths.waitForFile(socketPath)
    kill(daemon.pid, SIGTERM)
    let output = daemon.readOutput()
    #expect(daemon.exitCode == 0)
    #expect(output.contains("logging to stderr (no journal socket at"))
    #expect(output.contains("serving \(socketPath)"))
}

/// The example configuration shipped in `config/` stays loadable as the daemon evolves.
@Test func theShippedExampleConfigurationLoads() throws {
    let configuration = try DaemonConfiguration.load(
        path: Paths.root.appendingPathComponent("config/rethink-runtimed.json").path)
    #expect(configuration.sandbox.defaultAction == .errno)
    #expect(configuration.queueLimit == 1000)
}

/// READY=1 reaches the service manager's notify socket once the client socket is served.
@Test func readinessIsReportedToSystemdOnceTheSocketIsServed() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "rethink-notify-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let notify = try NotifySocket(in: directory)
    let daemon = try ChildProcess(
        "/usr/bin/env",
        [
            "NOTIFY_SOCKET=\(notify.path)", Paths.product("rethink-runtimed"), "--socket",
            directory.appendingPathComponent("s").path,
            "--state-dir", directory.appendingPathComponent("state").path,
        ])
    defer {
        kill(daemon.pid, SIGKILL)
        daemon.wait()
    }
    let text = notify.receive(seconds: 10) ?? ""
    #expect(text.contains("READY=1"))
    #expect(text.contains("STATUS=0 stubs live"))
    #expect(
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("s").path),
        "READY only once the socket is served")
}
