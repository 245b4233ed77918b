import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// SPEC section 5, shutdown: on SIGTERM the daemon stops reading, and every request it had read gets exactly
/// one final response (its real answer within the drain, else 503) before the connection closes.
@Suite(.timeLimit(.minutes(2)))
struct ShutdownDrainTests {
    /// Sends requests the stubs answer late (`delay`), requests queued for a stub still deploying, and
    /// requests nothing answers (`silent`); waits until the daemon has read every byte of them (the socket's
    /// unread count, SIOCOUTQ, is 0); sends SIGTERM; reads to EOF and prints each id's final codes.
    static let script = """
        import fcntl, json, os, signal, socket, struct, sys, termios, time
        path, pid = sys.argv[1], int(sys.argv[2])
        s = socket.socket(socket.AF_UNIX); s.connect(path)
        data = b""
        while not data.endswith(b"\\n"):
            data += s.recv(1)
        def request(i, to, action):
            return json.dumps({"id": i, "type": "execute", "to": to, "body": {"value": action}}).encode() + b"\\n"
        plan = {}
        lines = []
        for i in range(300):
            plan[i] = "late"; lines.append(request(i, "hyperty://py.example/x", {"action": "delay", "ms": 300}))
        for i in range(300, 400):
            plan[i] = "queued"; lines.append(request(i, "hyperty://slow.example/x", {"action": "delay", "ms": 10}))
        for i in range(400, 450):
            plan[i] = "silent"; lines.append(request(i, "hyperty://py.example/x", {"action": "silent"}))
        s.sendall(b"".join(lines))
        deadline = time.time() + 10
        while struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\\0\\0\\0\\0"))[0] > 0 and time.time() < deadline:
            time.sleep(0.005)
        unread = struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\\0\\0\\0\\0"))[0]
        os.kill(pid, signal.SIGTERM)
        s.settimeout(30)
        buffer = b""
        eof = False
        try:
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    eof = True
                    break
                buffer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        finals = {}
        for line in buffer.split(b"\\n"):
            if not line:
                continue
            message = json.loads(line)
            if message.get("type") != "response":
                continue
            code = (message.get("body") or {}).get("code", 200)
            if code >= 200:
                finals.setdefault(str(message.get("id")), []).append(code)
        print(json.dumps({"unread": unread, "eof": eof, "plan": plan, "finals": finals}))
        """

    @Test func everyRequestReadBeforeSigtermGetsExactlyOneFinalResponse() async throws {
        let slow = TestRuntime.testing(["liveDelayMs": 500])
        let daemon = try DaemonProcessTests.RunningDaemon(
            extra: [("shutdownDrainSeconds", 5)], catalogueEntries: [("slow.example", slow)])
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.create, to: "hyperty://py.example/x").code == 200)
        let driver = try ChildProcess(
            "/usr/bin/python3", ["-c", Self.script, daemon.socket, "\(daemon.process.pid)"], captureOutput: true)
        let output = driver.readOutput()
        driver.wait()
        #expect(daemon.process.exitCode == 0)
        let result = try JSONValue.parse(Array(output.utf8))
        #expect(result["unread"]?.intValue == 0, "the daemon had read every request before SIGTERM")
        #expect(result["eof"]?.boolValue == true, "the connection ended with a clean EOF")
        let finals = result["finals"]?.objectValue ?? []
        let codes = Dictionary(finals.map { ($0.0, ($0.1.arrayValue ?? []).compactMap(\.intValue)) }) { a, _ in a }
        for (id, kind) in result["plan"]?.objectValue ?? [] {
            let got = codes[id] ?? []
            #expect(got.count == 1, "request \(id) (\(kind.stringValue ?? "")) got \(got.count) final responses: \(got)")
            switch kind.stringValue {
            case "late", "queued": #expect(got == [200], "request \(id) got its real answer within the drain")
            default:
                // 503 at the end of the drain, or 408 if its response timeout (5 s, as the drain) came first.
                #expect(got == [503] || got == [408], "request \(id), which nothing answers, got \(got)")
            }
        }
        #expect(daemon.log.contains("already read wait for their answers"), "\(daemon.log.suffix(2000))")
    }
}
