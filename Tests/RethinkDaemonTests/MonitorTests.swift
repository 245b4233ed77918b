import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// `rethinkctl monitor` (docs/OPERATIONS.md, "Watching the bus"): every delivery the bus makes, narrowed by
/// domain or address, bodies only when asked and never credentials; a watcher that does not read loses
/// events, counted, and the bus does not wait for it.
@Suite(.timeLimit(.minutes(2)))
struct MonitorTests {
    /// Starts `rethinkctl monitor --json` with `arguments` and waits until the daemon has its watch.
    static func startMonitor(_ daemon: DaemonProcessTests.RunningDaemon, _ arguments: [String]) async throws
        -> ChildProcess
    {
        let watches = daemon.log.components(separatedBy: "watches the bus").count
        let monitor = try ChildProcess(
            Paths.product("rethinkctl"), ["monitor", "--socket", daemon.socket, "--json"] + arguments,
            captureOutput: true)
        let deadline = Date().addingTimeInterval(10)
        while daemon.log.components(separatedBy: "watches the bus").count == watches, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return monitor
    }

    static func events(_ output: String) throws -> [JSONValue] {
        try output.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
    }

    @Test func theMonitorShowsEachDeliveryOfItsDomainWithoutBodies() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon(extra: MetricsTests.adminExtra)
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://native.example/x").code == 200)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let monitor = try await Self.startMonitor(daemon, ["--domain", "native.example", "--count", "2"])
        #expect(try await client.request(.read, to: "hyperty://py.example/x", body: ["value": "elsewhere"]).code == 200)
        #expect(try await client.request(.read, to: "hyperty://native.example/x", body: ["value": "watched"]).code == 200)
        let output = monitor.readOutput()
        #expect(monitor.exitCode == 0)
        let events = try Self.events(output)
        try #require(events.count == 2, "\(output)")
        #expect(events[0]["path"]?.stringValue == "client->stub")
        #expect(events[0]["type"]?.stringValue == "read")
        #expect(events[0]["to"]?.stringValue == "hyperty://native.example/x")
        #expect(events[0]["from"]?.stringValue == client.greeting.clientURL)
        #expect((events[0]["bytes"]?.intValue ?? 0) > 0)
        #expect(events[1]["path"]?.stringValue == "stub->client")
        #expect(events[1]["type"]?.stringValue == "response")
        #expect(events[1]["code"]?.intValue == 200)
        #expect(events[1]["id"] == events[0]["id"])
        #expect(!output.contains("py.example"), "another domain's traffic is not shown")
        #expect(!output.contains("watched"), "no bodies without --bodies")
    }

    @Test func bodiesAreShownOnlyWhenAskedAndNeverCredentials() async throws {
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-cred-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: credentials) }
        let file = credentials.appendingPathComponent("py.example.json").path
        try Data(#"{"user": "bob", "password": "s3cret-XYZ"}"#.utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o600)
        let daemon = try DaemonProcessTests.RunningDaemon(
            extra: MetricsTests.adminExtra + [("credentialsDirectories", [.string(credentials.path)])])
        defer { daemon.cleanUp() }
        let monitor = try await Self.startMonitor(daemon, ["--domain", "py.example", "--bodies"])
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.read, to: "hyperty://py.example/x", body: ["value": "shown"]).code == 200)
        // The answer can reach the client before the monitor has printed the request's event.
        #expect(monitor.waitForOutput(containing: #""shown""#, timeout: 10), "the monitor never showed the body")
        kill(monitor.pid, SIGTERM)
        let output = monitor.readOutput()
        monitor.wait()
        let events = try Self.events(output)
        let deploy = events.first { $0["to"]?.stringValue == "hyperty-runtime://sandbox/internal" }
        #expect(deploy?["body"]?.stringValue == "(withheld: it carries credentials)", "\(output)")
        #expect(!output.contains("s3cret-XYZ"), "the deploy message's credentials are never shown")
        #expect(events.contains { $0["body"]?["value"]?.stringValue == "shown" }, "\(output)")
    }

    /// A watcher subscribes and does not read while another connection sends 20,000 requests; every one is
    /// answered, and once the watcher reads again its next event says how many it lost.
    static let slowWatcher = """
        import json, socket, sys, threading, time
        path, monitor = sys.argv[1], sys.argv[2]
        def received(connection, size):
            # The daemon closing a connection ends the script (and fails the test) instead of spinning on EOF.
            data = connection.recv(size)
            if not data:
                sys.exit("the daemon closed a connection")
            return data
        def connect():
            s = socket.socket(socket.AF_UNIX); s.connect(path)
            data = b""
            while not data.endswith(b"\\n"):
                data += s.recv(1)
            return s, json.loads(data)
        watcher, _ = connect()
        watcher.sendall(json.dumps({"id": 1, "type": "subscribe", "to": monitor, "body": {"value": {}}}).encode() + b"\\n")
        answer = b""
        while not answer.endswith(b"\\n"):
            answer += watcher.recv(1)
        sender, _ = connect()
        count = 20000
        lines = b"".join(b'{"id":%d,"type":"read","to":"hyperty://native.example/x"}\\n' % i for i in range(count))
        answered = 0
        def read_answers():
            global answered
            buffer = b""
            sender.settimeout(60)
            while answered < count:
                buffer += received(sender, 1 << 16)
                *complete, buffer = buffer.split(b"\\n")
                answered += sum(1 for line in complete if b'"response"' in line)
        reader = threading.Thread(target=read_answers)
        reader.start()
        sender.sendall(lines)
        reader.join()
        watcher.settimeout(0.5)
        try:
            while watcher.recv(1 << 20):
                pass
        except socket.timeout:
            pass
        sender.sendall(b'{"id":"last","type":"read","to":"hyperty://native.example/x"}\\n')
        dropped, buffer = 0, b""
        watcher.settimeout(10)
        while dropped == 0:
            buffer += received(watcher, 1 << 16)
            *complete, buffer = buffer.split(b"\\n")
            for line in complete:
                value = (json.loads(line).get("body") or {}).get("value") or {}
                dropped = max(dropped, value.get("dropped", 0))
        print(json.dumps({"answered": answered, "dropped": dropped}))
        """

    @Test func aWatcherThatDoesNotReadLosesEventsAndTheBusDoesNotWait() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon(
            extra: MetricsTests.adminExtra + [("clientOutputLimitBytes", .int(2 << 20))])
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://native.example/x").code == 200)
        let script = try ChildProcess(
            "/usr/bin/python3", ["-c", Self.slowWatcher, daemon.socket, client.greeting.runtimeURL + "/monitor"],
            captureOutput: true)
        let output = script.readOutput()
        #expect(script.exitCode == 0, "\(daemon.log.suffix(1500))")
        let result = try JSONValue.parse(Array(output.utf8))
        #expect(result["answered"]?.intValue == 20000)
        #expect((result["dropped"]?.intValue ?? 0) > 0, "the watcher's next event counts what it lost: \(output)")
    }
}
