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
        let launcher = try Self.launcher(sandbox, confined: ProcessInfo.processInfo.environment["X_UNCONF"] == nil)
        for _ in 0..<20 {
            let (reply, fetched) = try await launcher.run(
                Self.request(server, path: "/file"), destination: Self.destination(server), timeout: .seconds(10))
            #expect(reply.failure == nil, "\(reply.description ?? "")")
            #expect(reply.status == 200)
            #expect(fetched == body)
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
