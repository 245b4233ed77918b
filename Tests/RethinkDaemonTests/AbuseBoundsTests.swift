import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// What a hostile client can make the daemon hold (docs/OPERATIONS.md, "Bounds under abuse"): a flood at a
/// stalled stub and a flood of domains nobody publishes are each answered in full, once per request, while the
/// daemon's peak RSS stays within 64 MiB of what it was before and other clients are served.
@Suite(.timeLimit(.minutes(5)))
struct AbuseBoundsTests {
    static let flood = Paths.root.appendingPathComponent("Tests/Fixtures/abuse/flood.py").path
    static let bound = 64 * 1024

    static func kibibytes(_ pid: Int32, _ field: String) -> Int {
        Int((ProcessStatus(pid: pid).fields[field] ?? "").split(separator: " ").first ?? "") ?? 0
    }

    /// Runs the flood while another client reads the registry now and then; returns the flood's report.
    static func flood(
        _ daemon: DaemonProcessTests.RunningDaemon, target: String, count: Int, window: Int
    ) async throws -> JSONValue {
        let flood = try ChildProcess(
            "/usr/bin/python3", [Self.flood, daemon.socket, target, "\(count)", "\(window)"], captureOutput: true)
        try await Self.expectOthersServed(daemon, while: flood)
        let report = try JSONValue.parse(Array(flood.readOutput().utf8))
        #expect(flood.exitCode == 0)
        #expect(report["answered"]?.intValue == Int64(count), "every request answered: \(report.jsonString)")
        #expect(report["duplicates"]?.intValue == 0, "none answered twice")
        return report
    }

    /// While `child` runs, another client reads the registry now and then and is answered each time.
    static func expectOthersServed(_ daemon: DaemonProcessTests.RunningDaemon, while child: ChildProcess) async throws {
        let other = try await RuntimeClient.connect(socketPath: daemon.socket)
        while child.isRunning {
            let answer = try await other.request(.read, to: other.greeting.runtimeURL + "/registry", timeout: .seconds(20))
            #expect(answer.code == 200, "another client is served meanwhile")
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func aFloodAtAStalledStubIsAnsweredInFullWithinTheMemoryBound() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon()
        defer { daemon.cleanUp() }
        let client = try await RuntimeClient.connect(socketPath: daemon.socket)
        #expect(try await client.request(.read, to: "hyperty://native.example/x").code == 200)
        let listing = try await client.request(.read, to: client.greeting.runtimeURL + "/registry")
        let pid = try #require(listing.bodyValue?.arrayValue?.first?["pid"]?.intValue.map { Int32($0) })
        kill(pid, SIGSTOP)
        let before = Self.kibibytes(daemon.process.pid, "VmRSS")
        // More than the peer's in-flight limit (10,000) at a time: the rest get 429 at once, the queued ones 408.
        let report = try await Self.flood(daemon, target: "native.example", count: 200_000, window: 20_000)
        let peak = Self.kibibytes(daemon.process.pid, "VmHWM")
        #expect(peak - before < Self.bound, "peak RSS \(peak) KiB against \(before) KiB before the flood")
        let codes = report["codes"]?.objectValue?.map(\.0).sorted() ?? []
        #expect(codes.allSatisfy { ["408", "429"].contains($0) }, "\(report.jsonString)")
        kill(pid, SIGCONT)
        #expect(try await client.request(.read, to: "hyperty://native.example/x", timeout: .seconds(20)).code == 200)
    }

    @Test func aHundredThousandUnknownDomainsAreAnsweredWithinTheMemoryBound() async throws {
        let daemon = try DaemonProcessTests.RunningDaemon()
        defer { daemon.cleanUp() }
        let before = Self.kibibytes(daemon.process.pid, "VmRSS")
        let report = try await Self.flood(daemon, target: "unknown", count: 100_000, window: 1000)
        let peak = Self.kibibytes(daemon.process.pid, "VmHWM")
        #expect(peak - before < Self.bound, "peak RSS \(peak) KiB against \(before) KiB before the flood")
        #expect(report["codes"]?["404"]?.intValue == 100_000, "\(report.jsonString)")
    }
}
