import Glibc
import RethinkSandbox
import Testing

/// What a confined child sees of the world, checked with small real programs under the
/// executable policy.
@Suite(.timeLimit(.minutes(2)))
struct ChildEnvironmentTests {
    @Test func childSeesOnlyStdioDescriptors() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        // Leave a descriptor open in the parent without close-on-exec: it must not leak either.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }

        let run = try await TestSupport.run(TestSupport.request("/bin/ls", ["-1", "/proc/self/fd"]), in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        // 3 is ls's own handle on the directory it lists.
        #expect(run.stdoutLines == ["0", "1", "2", "3"])
    }

    @Test func childSeesOnlyTheGivenEnvironment() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        setenv("RETHINK_SANDBOX_TEST_SECRET", "parent-only", 1)
        let environment = ["PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "STUB_ID": "42"]

        let run = try await TestSupport.run(
            TestSupport.request("/usr/bin/env", [], environment: environment), in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(Set(run.stdoutLines) == Set(environment.map { "\($0.key)=\($0.value)" }))
    }

    @Test func childRunsInTheGivenWorkingDirectory() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { rmdir(directory) }

        let run = try await TestSupport.run(
            TestSupport.request("/bin/pwd", [], workingDirectory: directory), in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        #expect(run.stdoutLines == [directory])
    }

    @Test func childHasNoCoreDumpsNoNewPrivilegesAndAFilter() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let status = try await TestSupport.run(TestSupport.request("/bin/cat", ["/proc/self/status"]), in: sandbox)
        let limits = try await TestSupport.run(TestSupport.request("/bin/cat", ["/proc/self/limits"]), in: sandbox)

        let fields = Dictionary(
            status.stdoutLines.compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (
                    String(line[..<colon]),
                    String(line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" }))
                )
            }, uniquingKeysWith: { first, _ in first })
        #expect(fields["NoNewPrivs"] == "1")
        #expect(fields["Seccomp"] == "2")
        #expect(fields["Seccomp_filters"] == "1")
        // Every signal at its default and none blocked, even those the test runner ignores or blocks.
        #expect(fields["SigIgn"] == "0000000000000000")
        #expect(fields["SigBlk"] == "0000000000000000")
        let coreLine = limits.stdoutLines.first { $0.hasPrefix("Max core file size") }
        #expect(coreLine?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"])
        let filesLine = limits.stdoutLines.first { $0.hasPrefix("Max open files") }
        let openFiles = ResourceLimits.default.openFiles
        #expect(
            filesLine?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2) == [
                "\(openFiles)", "\(openFiles)",
            ])
    }

    /// The daemon ignores signals of its own (SIGPIPE, a real-time one here) and an ignored signal survives
    /// execve: the child must start with every disposition at its default, whether the daemon cloned it
    /// or a spawn helper forked from the daemon did (the helper resets them once for all its clones).
    @Test(arguments: [true, false])
    func childStartsWithNoSignalIgnoredThatTheDaemonIgnores(spawnHelpers: Bool) async throws {
        let realtime = __libc_current_sigrtmax()
        let savedPipe = signal(SIGPIPE, SIG_IGN)
        let savedRealtime = signal(realtime, SIG_IGN)
        defer {
            signal(SIGPIPE, savedPipe)
            signal(realtime, savedRealtime)
        }
        let sandbox = try Sandbox(logger: TestSupport.logger, spawnHelpers: spawnHelpers)
        defer { sandbox.shutdown() }

        let status = try await TestSupport.run(TestSupport.request("/bin/cat", ["/proc/self/status"]), in: sandbox)

        #expect(status.status == .exited(0), "stderr: \(status.stderr)")
        #expect(status.stdoutLines.contains("SigIgn:\t0000000000000000"), "\(status.stdoutLines)")
    }

    @Test func childRunsInItsOwnSession() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let run = try await TestSupport.run(TestSupport.request("/bin/cat", ["/proc/self/stat"]), in: sandbox)

        // pid (comm) state ppid pgrp session ...
        let afterComm = try #require(run.stdout.split(separator: ")").last).split(separator: " ")
        let processGroup = Int32(afterComm[2])
        let session = Int32(afterComm[3])
        #expect(session == run.process.pid)
        #expect(processGroup == run.process.pid)
        #expect(getsid(0) != run.process.pid)
    }
}
