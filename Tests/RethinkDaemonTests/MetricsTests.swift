import Foundation
import RethinkClient
import RethinkDaemon
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The operator's view (docs/OPERATIONS.md, "Metrics"): `rethinkctl metrics` reads the daemon's metrics socket;
/// the text counts what the bus did and is valid for Prometheus (`promtool check metrics`); only root and the
/// admin group may read it; a loopback TCP address serves the same text.
@Suite(.timeLimit(.minutes(2)))
struct MetricsTests {
    /// The admin policy for the tests' own user: root is always admin; another user through its own group.
    static var adminExtra: [(String, JSONValue)] {
        guard geteuid() != 0, let group = getgrgid(getgid()) else { return [] }
        return [("adminGroup", .string(String(cString: group.pointee.gr_name)))]
    }

    /// Runs a command; returns its exit code and stdout.
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let child = try ChildProcess(executable, arguments, captureOutput: true)
        let output = child.readOutput()
        return (child.exitCode, output)
    }

    /// The value of the sample `series` (name and labels, as written) in the text, if present.
    static func sample(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func metricsCountWhatTheBusDidAndPassPromtool() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon(extra: Self.adminExtra)
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        for _ in 0..<3 { #expect(try await client.request(.read, to: "hyperty://native.example/x").code == 200) }
        #expect(try await client.request(.read, to: "hyperty://nowhere.example/x").code == 404)
        let (status, text) = try Self.run(Paths.product("rethinkctl"), ["metrics", "--socket", daemon.socket])
        #expect(status == 0, "\(text)")
        #expect(Self.sample(#"rethink_requests_total{domain="native.example",code="200"}"#, in: text) == 3, "\(text)")
        #expect(Self.sample(#"rethink_requests_total{domain="none",code="404"}"#, in: text) == 1)
        #expect(Self.sample(#"rethink_stub_messages_total{domain="native.example",direction="to_stub"}"#, in: text) == 3)
        #expect(Self.sample(#"rethink_stub_deploy_duration_seconds_count{domain="native.example"}"#, in: text) == 1)
        #expect((Self.sample(#"rethink_stub_resident_memory_bytes{domain="native.example"}"#, in: text) ?? 0) > 0)
        #expect((Self.sample("process_resident_memory_bytes", in: text) ?? 0) > 1_048_576)
        #expect((Self.sample("process_open_fds", in: text) ?? 0) > 3)
        #expect(Self.sample("rethink_clients_connected", in: text) == 1.0)
        #expect(Self.sample("rethink_event_loop_lag_seconds", in: text) != nil)
        #expect(!text.contains("nowhere.example"), "an unknown domain gets no series of its own")
        let file = daemon.directory.appendingPathComponent("metrics.txt").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let (lint, complaints) = try Self.run("/bin/sh", ["-c", "promtool check metrics < '\(file)' 2>&1"])
        #expect(lint == 0, "promtool check metrics: \(complaints)")
    }

    @Test func onlyRootAndTheAdminGroupReadTheMetricsOrWatchTheBus() async throws {
        // As root the tests check `nobody`; as another user, that user, who is not in the default admin group
        // (rethink-admin). (`adminGroup: null` would not do: a setting left null keeps its default.)
        let daemon = try DaemonProcessTests.RunningDaemon()
        defer { daemon.cleanUp() }
        let launcher = DaemonUser.unprivileged.launcher
        let command = launcher.isEmpty ? Paths.product("rethinkctl") : launcher[0]
        let prefix = launcher.isEmpty ? [] : Array(launcher.dropFirst()) + [Paths.product("rethinkctl")]
        let metrics = try ChildProcess(
            command, prefix + ["metrics", "--socket", daemon.socket], stderrPath: daemon.directory.path + "/metrics.err")
        #expect(metrics.exitCode != 0)
        let said = (try? String(contentsOfFile: daemon.directory.path + "/metrics.err", encoding: .utf8)) ?? ""
        #expect(said.contains("403") && said.contains("root and the admin group"), "\(said)")
        let monitor = try ChildProcess(
            command, prefix + ["monitor", "--socket", daemon.socket, "--count", "1"],
            stderrPath: daemon.directory.path + "/monitor.err")
        #expect(monitor.exitCode != 0)
        let refused = (try? String(contentsOfFile: daemon.directory.path + "/monitor.err", encoding: .utf8)) ?? ""
        #expect(refused.contains("403") && refused.contains("watching the bus is for root and the admin group"), "\(refused)")
    }

    @Test func aLoopbackPortServesTheSameMetrics() async throws {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) == 0 && getsockname(probe, $0, &length) == 0 }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)
        let daemon = try DaemonProcessTests.RunningDaemon(extra: [("metricsListen", .string("127.0.0.1:\(port)"))])
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.read, to: "hyperty://native.example/x").code == 200)
        let fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(port)/metrics').read().decode())"
        let (status, text) = try Self.run("/usr/bin/python3", ["-c", fetch])
        #expect(status == 0)
        #expect(Self.sample(#"rethink_requests_total{domain="native.example",code="200"}"#, in: text) == 1, "\(text)")
    }

    @Test func metricsOnATCPAddressOutsideLoopbackAreRefused() throws {
        var configuration = DaemonConfiguration()
        configuration.metricsListen = "0.0.0.0:9464"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.metricsListen = "127.0.0.1:9464"
        try configuration.validate()
    }
}
