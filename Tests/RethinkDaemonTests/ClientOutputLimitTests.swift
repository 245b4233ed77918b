import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// SPEC section 5: a client that stops reading cannot grow the daemon. Past its output limit what is addressed
/// to it is dropped, counted and logged; one that stays over the limit is disconnected; the others are served.
@Suite(.timeLimit(.minutes(2)))
struct ClientOutputLimitTests {
    /// Connects, reads the greeting, then sends `count` requests the runtime answers (404: no such domain)
    /// and never reads an answer; prints how many bytes it sent and whether the daemon closed on it.
    static let floodScript = """
        import json, socket, sys, time
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
        greeting = b""
        while not greeting.endswith(b"\\n"):
            greeting += s.recv(1)
        count = int(sys.argv[2])
        lines = b"".join(b'{"id":%d,"type":"read","to":"hyperty://nowhere.example/x","body":{"pad":"%s"}}\\n' % (i, b"x" * 64) for i in range(count))
        sent, closed = 0, False
        try:
            while sent < len(lines):
                sent += s.send(lines[sent:sent + 65536])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        deadline = time.time() + float(sys.argv[3])
        s.settimeout(0.5)
        while not closed and time.time() < deadline:
            try:
                if s.recv(1 << 20) == b"":
                    closed = True
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        print(json.dumps({"sent": sent, "closed": closed}))
        """

    @Test func aClientThatDoesNotReadIsBoundedDroppedAndDisconnectedWhileOthersAreServed() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon(
            extra: [("clientOutputLimitBytes", .int(2 << 20)), ("clientStallSeconds", 2)])
        defer { daemon.cleanUp() }
        let before = Self.kibibytes(daemon.process.pid, "VmRSS")
        // 300,000 answers of about 250 bytes: some 70 MiB the client never reads.
        let flood = try ChildProcess(
            "/usr/bin/python3", ["-c", Self.floodScript, daemon.socket, "300000", "20"], captureOutput: true)
        try await AbuseBoundsTests.expectOthersServed(daemon, while: flood)
        let other = try await RuntimeClient.connect(socketPath: daemon.socket)
        let result = try JSONValue.parse(Array(flood.readOutput().utf8))
        flood.wait()
        #expect(result["closed"]?.boolValue == true, "the daemon closed the connection of a client that stayed over its limit")
        let peak = Self.kibibytes(daemon.process.pid, "VmHWM")
        #expect(peak - before < 48 * 1024, "peak RSS \(peak) KiB against \(before) KiB before the flood")
        #expect(daemon.log.contains("does not read what it is sent: messages to it are dropped"), "\(daemon.log.suffix(1500))")
        #expect(daemon.log.contains("stayed over its output limit for 2 s: disconnected"), "\(daemon.log.suffix(1500))")
        #expect(try await other.request(.read, to: other.greeting.runtimeURL + "/registry").code == 200)
    }

    @Test func aThousandConnectionsThatEachSentARequestCostLittle() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon()
        defer { daemon.cleanUp() }
        let marker = daemon.directory.appendingPathComponent("all-answered").path
        // 1,000 clients, each greeted and answered once, then held open until the test kills the script.
        let script = """
            import socket, sys, time
            socks = []
            for _ in range(1000):
                s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)
            for s in socks:
                f = s.makefile("rb"); f.readline()
                s.sendall(b'{"id":1,"type":"read","to":"hyperty://nowhere.example/x"}\\n'); f.readline()
            open(sys.argv[2], "w").close()
            time.sleep(120)
            """
        let before = Self.kibibytes(daemon.process.pid, "VmRSS")
        let clients = try ChildProcess("/usr/bin/python3", ["-c", script, daemon.socket, marker])
        defer {
            kill(clients.pid, SIGKILL)
            clients.wait()
        }
        #expect(try await Paths.waitForFile(marker, seconds: 60), "every client was answered")
        let during = Self.kibibytes(daemon.process.pid, "VmRSS")
        // At 64 KiB of read buffer each (the allocator's first size before) this was 70 MiB; it starts at 2 KiB.
        #expect(during - before < 24 * 1024, "RSS \(during) KiB with 1,000 clients open, \(before) KiB before")
    }

    private static func kibibytes(_ pid: Int32, _ field: String) -> Int {
        let value = ProcessStatus(pid: pid).fields[field] ?? ""
        return Int(value.split(separator: " ").first ?? "") ?? 0
    }
}
