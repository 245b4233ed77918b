import Glibc
import RethinkSandbox
import Testing

/// Real interpreters under their language's policy: what a stub needs works, what it must not
/// do fails. Debian's /usr/bin/python3 is named explicitly: the first python3 on PATH may differ.
@Suite(.timeLimit(.minutes(2)))
struct InterpreterStubTests {
    /// A TCP port on 127.0.0.1 that nothing listens on: bound and kept (so no parallel test can take it) but
    /// not listening, so a connect gets ECONNREFUSED. The caller closes the socket.
    static func closedPort() throws -> (fd: CInt, port: UInt16) {
        try TestSupport.listener(Int32(SOCK_STREAM.rawValue), listening: false)
    }

    @Test(.enabled(if: TestSupport.fileExists("/usr/bin/python3")))
    func pythonStubEchoesUsesThreadsAndSocketsButCannotForkOrUnshare() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let (held, port) = try Self.closedPort()
        defer { close(held) }
        let script = """
            import sys, os, threading, socket, errno, ctypes
            line = sys.stdin.readline()
            sys.stdout.write("echo " + line)
            done = []
            t = threading.Thread(target=lambda: done.append(True)); t.start(); t.join()
            print("thread", "ran" if done else "did not run")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", \(port))); print("connect ok")
            except OSError as e:
                print("connect", errno.errorcode.get(e.errno, e.errno))
            try:
                pid = os.fork()
                if pid == 0: os._exit(0)
                print("fork ok")
            except OSError as e:
                print("fork", errno.errorcode.get(e.errno, e.errno))
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x10000000) == 0: print("unshare ok")
            else: print("unshare", errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
            """

        let run = try await TestSupport.run(
            TestSupport.request("/usr/bin/python3", ["-c", script], language: .python), in: sandbox,
            input: "hello sandbox\n")

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(
            run.stdoutLines == [
                "echo hello sandbox", "thread ran", "connect ECONNREFUSED", "fork EPERM", "unshare EPERM",
            ], "stderr: \(run.stderr)")
    }

    @Test(.enabled(if: TestSupport.fileExists("/usr/bin/node")))
    func javascriptStubEchoesAndConnectsButCannotSpawn() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let (held, port) = try Self.closedPort()
        defer { close(held) }
        let script = """
            let spawned;
            try { require("child_process").execFileSync("/bin/true"); spawned = "ok"; }
            catch (e) { spawned = e.code; }
            process.stdin.once("data", (d) => {
              process.stdout.write("echo " + d);
              const s = require("net").connect(\(port), "127.0.0.1");
              s.on("error", (e) => { console.log("connect " + e.code); console.log("spawn " + spawned); process.exit(0); });
            });
            """

        let run = try await TestSupport.run(
            TestSupport.request("/usr/bin/node", ["-e", script], language: .javascript), in: sandbox,
            input: "hello node\n")

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(run.stdoutLines == ["echo hello node", "connect ECONNREFUSED", "spawn EPERM"], "stderr: \(run.stderr)")
    }
}
