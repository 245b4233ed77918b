import Foundation
import Logging
import RethinkFetchWire
import RethinkSandbox
import RethinkTestKit
import Testing

@testable import RethinkCatalogue

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The network catalogue's GETs run in `rethink-fetch` under the stub sandbox (``FetcherLauncher``), against a
/// real nginx over real TLS: what comes back, and what a fetcher an attacker has taken over can reach.
@Suite(.timeLimit(.minutes(2)))
struct FetcherIsolationTests {
    static let host = "fetch.example"

    @Test func aConfinedFetcherBringsTheBodyBackEveryTime() async throws {
        let server = try WellKnownServer(hosts: [Self.host])
        defer { server.stop() }
        let body = Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try Data(body).write(to: URL(fileURLWithPath: server.root(Self.host) + "/file"))
        let sandbox = try Sandbox(logger: Logger(label: "test"))
        defer { sandbox.shutdown() }
        let launcher = try Self.launcher(sandbox, confined: true)
        for _ in 0..<20 {
            let (reply, fetched) = try await launcher.run(
                Self.request(server, path: "/file"), destination: Self.destination(server), timeout: .seconds(10))
            #expect(reply.failure == nil, "\(reply.description ?? "")")
            #expect(reply.status == 200)
            #expect(fetched == body)
        }
    }

    /// A fetcher a hostile server has taken over (`Tests/Fixtures/hostile-fetcher`) tries what it would want:
    /// another process's memory, a host and port the GET does not go to, another domain's credentials, a
    /// file planted where the daemon keeps packages. Confined, each is refused; under seccomp alone (the
    /// control), the same fetcher reaches the port and both files, so it is the isolation that stops it.
    @Test(arguments: [true, false])
    func aTakenOverFetcherReachesNothingButItsHost(confined: Bool) async throws {
        let server = try WellKnownServer(hosts: [Self.host])
        defer { server.stop() }
        let decoy = try ChildProcess("/bin/sleep", ["60"])
        defer {
            kill(decoy.pid, SIGKILL)
            _ = decoy.wait()
        }
        // Another host's server, listening on a port the GET does not go to.
        let other = try WellKnownServer(hosts: ["other.example"])
        defer { other.stop() }
        // Not under /tmp, which a confined fetcher sees as its own empty view: where a state directory would be.
        let base = FileManager.default.isWritableFile(atPath: "/var/tmp") ? "/var/tmp" : NSTemporaryDirectory()
        let secrets = base + "/rethink-fetch-secrets-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: secrets, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: secrets) }
        let credentials = secrets + "/credentials.json"
        try Data("{\"secret\": 1}".utf8).write(to: URL(fileURLWithPath: credentials))
        chmod(credentials, 0o600)
        let planted = secrets + "/planted"

        let sandbox = try Sandbox(logger: Logger(label: "test"))
        defer { sandbox.shutdown() }
        let launcher = try Self.launcher(
            sandbox, confined: confined, executable: Paths.product("rethink-hostile-fetcher"))
        let (reply, body) = try await launcher.run(
            Self.request(
                server, path: "/f?pid=\(decoy.pid)&port=\(other.port)&read=\(credentials)&write=\(planted)"),
            destination: Self.destination(server), timeout: .seconds(10))
        #expect(reply.status == 200)
        let outcomes = Dictionary(
            uniqueKeysWithValues: String(decoding: body, as: UTF8.self).split(separator: " ").compactMap { item in
                let parts = item.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            })
        #expect(outcomes.count == 4, "\(String(decoding: body, as: UTF8.self))")
        #expect(!FileManager.default.fileExists(atPath: planted))
        if confined {
            #expect(outcomes["proc-mem"] == "EACCES", "another process's memory: \(outcomes)")
            #expect(outcomes["tcp"] == "EACCES", "a port the GET does not go to: \(outcomes)")
            #expect(outcomes["read"] == "EACCES", "another domain's credentials: \(outcomes)")
            #expect(outcomes["write"] == "EACCES", "a planted file: \(outcomes)")
        } else {
            // /proc/<pid>/mem is left out of the control: whether the same uid may open it depends on Yama's
            // ptrace scope and the test process's dumpability, not on the fetcher's confinement.
            #expect(outcomes["tcp"] == "ok", "\(outcomes)")
            #expect(outcomes["read"] == "ok", "\(outcomes)")
            #expect(outcomes["write"] == "ok", "\(outcomes)")
        }
    }

    static func launcher(_ sandbox: Sandbox, confined: Bool, executable: String = Paths.product("rethink-fetch"))
        throws -> FetcherLauncher
    {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-fetch-test-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        return FetcherLauncher(
            sandbox: sandbox, executable: executable,
            settings: .init(confined: confined, landlock: true, defaultAction: .errno), stateDirectory: state,
            logger: Logger(label: "test"))
    }

    static func request(_ server: WellKnownServer, path: String) -> FetchRequest {
        FetchRequest(
            url: "https://\(host):\(server.port)\(path)", limit: 1 << 20, connectTimeoutMilliseconds: 2000,
            deadlineMilliseconds: 5000, caBundle: server.caBundle, address: "127.0.0.1")
    }

    static func destination(_ server: WellKnownServer) -> NetworkDestination {
        let port = UInt16(server.port)
        return NetworkDestination(host: .address(IPAddress("127.0.0.1")!), ports: port...port)
    }
}
