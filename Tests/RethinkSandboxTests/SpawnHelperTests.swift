import Foundation
import Testing

@testable import RethinkSandbox

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The spawn helpers (`Sources/CRethinkSpawn/SpawnHelper.c`): one small process per spawner thread does
/// the clones, the stubs stay the daemon's children, and a helper that dies only costs speed.
@Suite(.timeLimit(.minutes(2)))
struct SpawnHelperTests {
    @Test func eachSpawnerThreadHasASmallSingleThreadedHelperThatDoesTheClones() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 3)
        defer { sandbox.shutdown() }
        let helpers = sandbox.spawnHelperPIDs
        #expect(helpers.count == 3)
        for helper in helpers {
            let status = Self.status(of: helper)
            #expect(status["Name"] == "rt-spawn-helper")
            #expect(status["PPid"] == "\(getpid())")
            #expect(status["Threads"] == "1")
            // stdio and its socket: none of this process's other descriptors.
            #expect(Self.descriptors(of: helper) <= 4, "\(Self.descriptors(of: helper)) fds")
        }
        let before = helpers.map { Self.requestsServed(by: $0) }.reduce(0, +)

        for _ in 0..<6 {
            let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
            #expect(run.status == .exited(0))
        }

        // Every request is a blocking receive in the helper: six spawns, at least six switches.
        let after = helpers.map { Self.requestsServed(by: $0) }.reduce(0, +)
        #expect(after - before >= 6, "helpers switched \(after - before) times for 6 spawns")
    }

    @Test func aStubClonedByAHelperIsTheDaemonsChild() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 2)
        defer { sandbox.shutdown() }
        #expect(sandbox.spawnHelperPIDs.count == 2)
        let run = try await TestSupport.run(TestSupport.request("/bin/sh", ["-c", "echo $PPID"]), in: sandbox)
        #expect(run.status == .exited(0))
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(getpid())")
    }

    @Test func stubsStillStartWhenTheHelpersAreKilledAndTheHelpersAreReapedAtShutdown() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 2)
        let helpers = sandbox.spawnHelperPIDs
        #expect(helpers.count == 2)
        for helper in helpers { kill(helper, SIGKILL) }
        // A killed helper is found on the next request; that spawn and every later one fork in process.
        for _ in 0..<4 {
            let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
            #expect(run.status == .exited(0))
        }
        sandbox.shutdown()
        for helper in helpers { #expect(try await Self.reaped(helper), "helper \(helper) left behind") }
    }

    /// One spawner thread, so that the spawn after the kill is known to find its helper gone.
    @Test func aHelperFoundGoneIsReapedThenNotLeftAZombieUntilShutdown() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 1)
        defer { sandbox.shutdown() }
        let helper = try #require(sandbox.spawnHelperPIDs.first)
        kill(helper, SIGKILL)
        let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
        #expect(run.status == .exited(0))
        #expect(try await Self.reaped(helper), "helper \(helper) is \(Self.status(of: helper)["State"] ?? "?") while the sandbox runs")
    }

    @Test func withoutHelpersTheSpawnerThreadsForkThemselves() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 2, spawnHelpers: false)
        defer { sandbox.shutdown() }
        #expect(sandbox.spawnHelperPIDs.isEmpty)
        let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
        #expect(run.status == .exited(0))
    }

    @Test func theHelpersEndWithTheSandbox() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 2)
        let helpers = sandbox.spawnHelperPIDs
        #expect(helpers.count == 2)
        sandbox.shutdown()
        for helper in helpers { #expect(try await Self.reaped(helper), "helper \(helper) left behind") }
    }

    /// Beside the test runner sits the `rethink-spawn-helper` the build made, as `make install` puts it beside
    /// the daemon: the helpers exec it, so each is a dozen mappings of a static binary, not a copy of this
    /// process's libraries and thread stacks, and stubs still start through them.
    @Test func theHelpersExecTheSmallHelperProgramInstalledBesideTheDaemon() async throws {
        let program = try #require(
            Sandbox.installedHelperExecutable, "no trusted rethink-spawn-helper beside the test runner: build all products")
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 2)
        defer { sandbox.shutdown() }
        #expect(sandbox.executedSpawnHelperCount == 2)
        let ownMappings = Self.mappings(of: getpid())
        for helper in sandbox.spawnHelperPIDs {
            #expect(Self.executable(of: helper) == program)
            #expect(Self.status(of: helper)["Name"] == "rt-spawn-helper")
            let mappings = Self.mappings(of: helper)
            #expect(mappings > 0 && mappings <= 24, "\(mappings) mappings in the helper, \(ownMappings) here")
        }
        let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
        #expect(run.status == .exited(0))
    }

    /// A helper program that cannot run costs only speed: the helpers are then forks of this process.
    @Test func aHelperProgramThatCannotRunLeavesTheHelpersForksOfTheDaemon() async throws {
        let sandbox = try Sandbox(
            logger: TestSupport.logger, spawners: 2, helperExecutable: "/nonexistent/rethink-spawn-helper")
        defer { sandbox.shutdown() }
        #expect(sandbox.spawnHelperPIDs.count == 2)
        #expect(sandbox.executedSpawnHelperCount == 0)
        for helper in sandbox.spawnHelperPIDs {
            #expect(Self.executable(of: helper) == Self.executable(of: getpid()))
        }
        let run = try await TestSupport.run(TestSupport.request("/bin/true", []), in: sandbox)
        #expect(run.status == .exited(0))
    }

    /// The helper runs as the daemon and clones every stub: a copy that others may write, or that sits in a
    /// directory others may write (such as /tmp), is not taken.
    @Test func aHelperProgramOthersCouldReplaceIsNotTrusted() throws {
        let program = try #require(Sandbox.installedHelperExecutable)
        #expect(Sandbox.trustedExecutable(program))
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let copy = directory + "/rethink-spawn-helper"
        try FileManager.default.copyItem(atPath: program, toPath: copy)
        chmod(directory, 0o755)
        chmod(copy, 0o755)
        #expect(Sandbox.trustedExecutable(copy))
        chmod(copy, 0o775)
        #expect(!Sandbox.trustedExecutable(copy), "a group-writable helper")
        chmod(copy, 0o755)
        chmod(directory, 0o777)
        #expect(!Sandbox.trustedExecutable(copy), "a helper in a world-writable directory")
        chmod(directory, 0o755)
        chmod(copy, 0o644)
        #expect(!Sandbox.trustedExecutable(copy), "a helper that is not executable")
        #expect(!Sandbox.trustedExecutable(directory), "a directory")
    }

    // MARK: - /proc

    static func executable(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    static func mappings(of pid: Int32) -> Int {
        (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8))?.split(separator: "\n").count ?? -1
    }

    static func status(of pid: Int32) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    static func requestsServed(by pid: Int32) -> Int {
        Int(status(of: pid)["voluntary_ctxt_switches"] ?? "") ?? 0
    }

    static func descriptors(of pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Whether `pid` is gone (not even a zombie) within two seconds.
    static func reaped(_ pid: Int32) async throws -> Bool {
        for _ in 0..<200 {
            if access("/proc/\(pid)", F_OK) != 0 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}
