import Glibc
import RethinkSandbox
import Testing

/// A real interpreter under full isolation (own uid or user namespace, Landlock, the network supervisor):
/// declared destinations work, undeclared ones are refused although something listens there.
@Suite(.timeLimit(.minutes(2)))
struct SupervisedNetworkTests {
    static func isolation(connect: [String], datagram: [String]) throws -> Isolation {
        Isolation(
            identity: Isolation.availableIdentity, files: Isolation.systemFiles,
            network: NetworkPolicy(
                connect: try connect.map { try NetworkDestination(parsing: $0) },
                datagram: try datagram.map { try NetworkDestination(parsing: $0) }))
    }

    @Test(.enabled(if: TestSupport.fileExists("/usr/bin/python3")))
    func declaredDestinationsConnectAndUndeclaredOnesAreRefused() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let allowed = try TestSupport.listener(Int32(SOCK_STREAM.rawValue))
        let denied = try TestSupport.listener(Int32(SOCK_STREAM.rawValue))
        let udp = try TestSupport.listener(Int32(SOCK_DGRAM.rawValue))
        let udpDenied = try TestSupport.listener(Int32(SOCK_DGRAM.rawValue))
        defer { [allowed.fd, denied.fd, udp.fd, udpDenied.fd].forEach { close($0) } }
        let script = """
            import socket, errno
            def attempt(label, action):
                try:
                    action(); print(label, "ok")
                except OSError as e:
                    print(label, errno.errorcode.get(e.errno, e.errno))
            def tcp(port, blocking):
                s = socket.socket(); s.settimeout(None if blocking else 2); s.connect(("127.0.0.1", port)); s.close()
            attempt("tcp-declared", lambda: tcp(\(allowed.port), True))
            attempt("tcp-declared-timeout", lambda: tcp(\(allowed.port), False))
            attempt("tcp-undeclared", lambda: tcp(\(denied.port), True))
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attempt("udp-declared", lambda: u.sendto(b"x", ("127.0.0.1", \(udp.port))))
            attempt("udp-undeclared", lambda: u.sendto(b"x", ("127.0.0.1", \(udpDenied.port))))
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attempt("udp-connected", lambda: (c.connect(("127.0.0.1", \(udp.port))), c.send(b"y")))
            attempt("udp-connected-elsewhere", lambda: c.sendto(b"z", ("127.0.0.1", \(udpDenied.port))))
            attempt("unix", lambda: socket.socket(socket.AF_UNIX))
            attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
            """
        var request = TestSupport.request("/usr/bin/python3", ["-c", script], language: .python)
        request.policy.isolation = try Self.isolation(
            connect: ["127.0.0.1:\(allowed.port)"], datagram: ["127.0.0.1:\(udp.port)"])

        let run = try await TestSupport.run(request, in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(
            run.stdoutLines == [
                "tcp-declared ok", "tcp-declared-timeout ok", "tcp-undeclared EACCES", "udp-declared ok",
                "udp-undeclared EACCES", "udp-connected ok", "udp-connected-elsewhere EACCES", "unix EACCES",
                "raw EPERM",
            ], "stderr: \(run.stderr)")
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(recv(udp.fd, &buffer, 16, Int32(MSG_DONTWAIT)) == 1, "the declared datagram arrived")
        #expect(recv(udpDenied.fd, &buffer, 16, Int32(MSG_DONTWAIT)) == -1, "no undeclared datagram arrived")
    }

    @Test(.enabled(if: TestSupport.fileExists("/usr/bin/node")))
    func nodeRunsUnderFullIsolationAndConnectsWhereDeclared() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let allowed = try TestSupport.listener(Int32(SOCK_STREAM.rawValue))
        let denied = try TestSupport.listener(Int32(SOCK_STREAM.rawValue))
        defer { [allowed.fd, denied.fd].forEach { close($0) } }
        let script = """
            const net = require("net");
            const s = net.connect(\(allowed.port), "127.0.0.1", () => {
              console.log("declared ok"); s.destroy();
              const d = net.connect(\(denied.port), "127.0.0.1");
              d.on("connect", () => { console.log("undeclared ok"); process.exit(0); });
              d.on("error", (e) => { console.log("undeclared " + e.code); process.exit(0); });
            });
            s.on("error", (e) => { console.log("declared " + e.code); process.exit(0); });
            """
        var request = TestSupport.request("/usr/bin/node", ["-e", script], language: .javascript)
        request.policy.isolation = try Self.isolation(connect: ["127.0.0.1:\(allowed.port)"], datagram: [])

        let run = try await TestSupport.run(request, in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(run.stdoutLines == ["declared ok", "undeclared EACCES"], "stderr: \(run.stderr)")
    }

    @Test(.enabled(if: TestSupport.fileExists("/usr/bin/python3")))
    func aStubHasItsOwnIdentityNoCapabilitiesAndABoundedScratch() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let script = """
            import os, errno
            print("uid-differs", os.getuid() != \(getuid()) or open("/proc/self/uid_map").read().split()[1] != "0")
            print("cwd", os.getcwd())
            try:
                with open("big", "wb") as f:
                    for _ in range(8): f.write(b"x" * (1 << 20))
                print("disk ok")
            except OSError as e:
                print("disk", errno.errorcode.get(e.errno, e.errno))
            try:
                os.listdir("/etc"); print("etc ok")
            except OSError as e:
                print("etc", errno.errorcode.get(e.errno, e.errno))
            """
        var request = TestSupport.request("/usr/bin/python3", ["-c", script], language: .python)
        var isolation = try Self.isolation(connect: [], datagram: [])
        isolation.scratchBytes = 4 << 20
        request.policy.isolation = isolation

        let run = try await TestSupport.run(request, in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(run.stdoutLines == ["uid-differs True", "cwd /tmp/scratch", "disk ENOSPC", "etc EACCES"], "stderr: \(run.stderr)")
        #expect(run.process.confinement?.landlockABI ?? 0 > 0 || Sandbox.landlockABI == 0)
    }
}
