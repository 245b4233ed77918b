import Foundation
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The hostile native stub (`Tests/Fixtures/hostile-native-stub/main.c`, a MiniBUS stub in C making raw system
/// calls, with no interpreter in between) deployed by the real `rethink-runtimed` as root and unprivileged: each
/// attack must come back refused, with the errno of the layer that stops it, while the daemon goes on serving the
/// victim domain. The controls run the harmless attacks that only the isolation layer (not seccomp) stops under
/// `"confinement": "seccomp"`, and must see them succeed.
@Suite(.timeLimit(.minutes(3)))
struct HostileNativeStubTests {
    static let users = HostileStubAttackTests.users

    @Test(arguments: users)
    func otherProcessesCannotBeReadTracedOrSignalled(user: DaemonUser) async throws {
        let rig = try await AttackRig(user, probe: try Self.probe())
        defer { rig.stop() }
        let decoy = try Decoy(user)
        defer { decoy.stop() }
        let victim = try await rig.pid(of: AttackRig.victim)
        let hostile = try await rig.pid(of: AttackRig.hostile)

        let helpers = rig.spawnHelpers()
        #expect(helpers.count >= 2, "the daemon's spawn helpers: \(helpers)")
        for target in [rig.daemon.pid, victim, decoy.pid] + helpers {
            let pid: JSONValue = ["pid": .int(Int64(target))]
            try await rig.expectRefused("proc-mem", pid, errnos: ["EACCES"])
            try await rig.expectRefused("proc-syscall", pid, errnos: ["EACCES"])
            try await rig.expectRefused("ptrace", pid, "seccomp", errnos: ["EPERM"])
            try await rig.expectRefused("process-vm", pid, "seccomp", errnos: ["EPERM"])
            try await rig.expectRefused("signal", pid, "Landlock's signal scope", errnos: ["EPERM"])
        }
        try await rig.expectRefused("kill-group", [:], "seccomp: kill only for pid >= 0", errnos: ["EPERM"])

        #expect(try await rig.pid(of: AttackRig.hostile) == hostile, "the stub answered every attack itself")
        try await rig.expectServing()
    }

    @Test(arguments: users)
    func filesOutsideItsScratchAndSetIDModesAreOutOfReach(user: DaemonUser) async throws {
        let rig = try await AttackRig(user, probe: try Self.probe())
        defer { rig.stop() }
        let planted = [
            "\(rig.state)/planted", "\(rig.state)/packages/planted", "\(rig.catalogue)/planted.example.json",
        ]
        let hostFile = "/etc/rethink-native-attack-\(UUID().uuidString.prefix(8))"
        defer { unlink(hostFile) }

        try await rig.expectRefused(
            "open-read", ["path": .string(rig.credentialsFile)], "another domain's credentials", errnos: ["EACCES"])
        try await rig.expectRefused(
            "open-read", ["path": .string("\(rig.catalogue)/\(AttackRig.victim).json")], errnos: ["EACCES"])
        try await rig.expectRefused("open-read", ["path": "/etc/shadow"], errnos: ["EACCES"])
        try await rig.expectRefused("open-read", ["path": "/etc/passwd"], "a host file every user may read", errnos: ["EACCES"])
        // The operator sees what was refused: a root daemon reads Landlock's denials from the kernel's audit
        // (turning it on), once per path, with the stub's fields; an unprivileged one says why it cannot.
        // (/etc/shadow, and files under a umask of 077, are refused by their modes before Landlock is asked;
        // /etc/passwd is readable by everyone, so only Landlock refuses it.)
        let expected =
            user == .root && getuid() == 0
            ? "sandbox refused fs.read_file on /etc/passwd: outside what its Landlock rules grant"
            : "refused file accesses are not logged"
        // Every process's audit records reach every daemon of this parallel suite: a burst may drop one (the
        // kernel's backlog, the socket's buffer), so the refused read is tried again until it shows, or 5 s.
        let deadline = Date().addingTimeInterval(5)
        while !rig.log.contains(expected), Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            if !rig.log.contains(expected) { try await rig.expectRefused("open-read", ["path": "/etc/passwd"], errnos: ["EACCES"]) }
        }
        #expect(rig.log.contains(expected), "\(rig.log.suffix(2000))")
        if let cached = rig.cachedVictimPackage() {
            try await rig.expectRefused(
                "open-write", ["path": .string(cached)], "another domain's cached package", errnos: ["EACCES"])
        }
        for path in planted + [hostFile] {
            try await rig.expectRefused("open-write", ["path": .string(path)], errnos: ["EACCES"])
        }
        try await rig.expectRefused("setuid-create", [:], "seccomp: open with set-id mode bits", errnos: ["EPERM"])
        if FileManager.default.fileExists(atPath: "/dev/kvm") {
            try await rig.expectRefused("dev", ["path": "/dev/kvm"], errnos: ["EACCES"])
        }
        // The honest path: its own scratch directory.
        try await rig.expectAllowed("open-write", ["path": "/tmp/scratch/note.txt"], "its scratch directory")

        for path in planted + [hostFile] { #expect(!FileManager.default.fileExists(atPath: path), "\(path) made") }
        try await rig.expectServing()
    }

    @Test(arguments: users)
    func onlyTheDeclaredDestinationsAreReachableAndNoOtherSocketCanBeMade(user: DaemonUser) async throws {
        let declaredTCP = try TargetSocket.tcp()
        defer { declaredTCP.close() }
        let undeclaredTCP = try TargetSocket.tcp()
        defer { undeclaredTCP.close() }
        let declaredUDP = try TargetSocket.udp(echo: false)
        defer { declaredUDP.close() }
        let undeclaredUDP = try TargetSocket.udp(echo: false)
        defer { undeclaredUDP.close() }
        let rig = try await AttackRig(
            user, probe: try Self.probe(), connect: ["127.0.0.1:\(declaredTCP.port)"],
            datagram: ["127.0.0.1:\(declaredUDP.port)"])
        defer { rig.stop() }
        let datagramTarget = try UnixDatagramTarget(path: rig.directory + "/dgram.sock")
        defer { datagramTarget.close() }

        try await rig.expectAllowed("tcp-connect", ["port": .int(Int64(declaredTCP.port))], "a declared port")
        #expect(declaredTCP.connectionPending(withinMilliseconds: 2000), "the declared listener saw the connection")
        try await rig.expectRefused("tcp-connect", ["port": .int(Int64(undeclaredTCP.port))], errnos: ["EACCES"])
        for attack in ["udp-sendto", "udp-sendmsg"] {
            try await rig.expectAllowed(attack, ["port": .int(Int64(declaredUDP.port))], "a declared peer")
            #expect(declaredUDP.queuedDatagram() == Array("probe".utf8), "\(attack) reached the declared peer")
            try await rig.expectRefused(attack, ["port": .int(Int64(undeclaredUDP.port))], errnos: ["EACCES"])
        }
        for path in [rig.socket, datagramTarget.path] {
            try await rig.expectRefused(
                "unix-connect", ["path": .string(path)], "a socketpair end re-connected to a pathname",
                errnos: ["EACCES"])
        }
        for attack in ["raw-icmp", "packet-socket", "sock-packet"] {
            try await rig.expectRefused(attack, [:], "seccomp: socket type and protocol", errnos: ["EPERM"])
        }
        try await rig.expectRefused("unix-socket", [:], errnos: ["EACCES"])
        try await rig.expectRefused("netlink-socket", [:], "glibc's getaddrinfo copes", errnos: ["EAFNOSUPPORT"])

        #expect(!undeclaredTCP.connectionPending(withinMilliseconds: 0))
        #expect(undeclaredUDP.queuedDatagram() == nil, "nothing reached the undeclared UDP peer")
        #expect(datagramTarget.queuedDatagram() == nil, "nothing reached the unix datagram socket")
        try await rig.expectServing()
    }

    @Test(arguments: users)
    func namespacesMountsAndExecutingAnotherProgramAreRefused(user: DaemonUser) async throws {
        let rig = try await AttackRig(user, probe: try Self.probe())
        defer { rig.stop() }
        let hostile = try await rig.pid(of: AttackRig.hostile)

        for attack in ["mount", "unshare", "setns"] {
            try await rig.expectRefused(attack, [:], "seccomp", errnos: ["EPERM"])
        }
        try await rig.expectRefused("memfd-exec", [:], "seccomp: no memfd_create", errnos: ["EPERM"])
        try await rig.expectRefused("exec-shell", [:], "Landlock: no execute right on /usr/bin", errnos: ["EACCES"])

        #expect(try await rig.pid(of: AttackRig.hostile) == hostile, "the stub was not replaced nor restarted")
        try await rig.expectRefused("kill-group", [:], "the stub still answers", errnos: ["EPERM"])
        try await rig.expectServing()
    }

    /// The controls: without the isolation layer (`"confinement": "seccomp"`, under which a root daemon's stub runs
    /// as root), the harmless attacks that only that layer stops succeed.
    @Test(arguments: users)
    func withSeccompAloneTheAttacksOnlyTheIsolationStopsSucceed(user: DaemonUser) async throws {
        let decoy = try Decoy(user)
        defer { decoy.stop() }
        let undeclaredTCP = try TargetSocket.tcp()
        defer { undeclaredTCP.close() }
        let rig = try await AttackRig(user, probe: try Self.probe(), confinement: "seccomp")
        defer { rig.stop() }

        try await rig.expectAllowed("proc-mem", ["pid": .int(Int64(decoy.pid))], "opened, nothing written")
        try await rig.expectAllowed("signal", ["pid": .int(Int64(decoy.pid))], "signal 0")
        try await rig.expectAllowed("tcp-connect", ["port": .int(Int64(undeclaredTCP.port))])
        #expect(undeclaredTCP.connectionPending(withinMilliseconds: 2000))
        try await rig.expectAllowed("open-read", ["path": .string(rig.credentialsFile)])
        if user == .unprivileged {
            // Here the stub runs as the daemon's own uid with nothing but seccomp: only being non-dumpable keeps
            // the daemon's memory, and its spawn helpers' (a stub cloned by a dumpable helper could be
            // written into before it execs), out of reach.
            let helpers = rig.spawnHelpers()
            #expect(helpers.count >= 2, "the daemon's spawn helpers: \(helpers)")
            for target in [rig.daemon.pid] + helpers {
                try await rig.expectRefused(
                    "proc-mem", ["pid": .int(Int64(target))], "non-dumpable", errnos: ["EACCES"])
            }
        }
        try await rig.expectServing()
    }

    /// The descriptor of the native probe, built next to the test bundle like the daemon.
    static func probe() throws -> JSONValue {
        let path = Paths.product("rethink-hostile-native-stub")
        guard access(path, X_OK) == 0 else {
            throw TestSetupError("\(path) is not built: `swift build --build-tests` builds it with the tests")
        }
        return [
            "objectName": "hostile-native", "version": "1", "language": "executable",
            "sourcePackageURL": .string(path),
        ]
    }
}

/// A unix datagram socket bound at a path, open to everyone: what a stub's re-connected socketpair end aims at.
private struct UnixDatagramTarget {
    let fd: CInt
    let path: String

    init(path: String) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
        }
        guard fd >= 0, bound else {
            Glibc.close(fd)
            throw TestSetupError("cannot bind a unix datagram socket at \(path): errno \(errno)")
        }
        chmod(path, 0o777)
        self.fd = fd
        self.path = path
    }

    func queuedDatagram() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count >= 0 ? Array(buffer[0..<count]) : nil
    }

    func close() {
        Glibc.close(fd)
        unlink(path)
    }
}
