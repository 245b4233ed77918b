import Dispatch
import Glibc
import RethinkSandbox
import Synchronization
import Testing

/// Starting, signalling and reaping children.
@Suite(.timeLimit(.minutes(3)))
struct SpawnLifecycleTests {
    @Test func missingExecutableFailsAtExecveWithENOENT() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let exits = Atomic<Int>(0)

        let error = await #expect(throws: SandboxError.self) {
            _ = try await sandbox.spawn(TestSupport.request("/nonexistent/rethink-stub", [])) { _ in
                exits.add(1, ordering: .relaxed)
            }
        }

        #expect(error?.code == .spawn)
        #expect(error?.step == .execve)
        #expect(error?.errno == ENOENT)
        #expect(error?.message.contains("execve") == true)
        #expect(error?.message.contains("ENOENT") == true)
        #expect(error?.message.contains("/nonexistent/rethink-stub") == true)
        #expect(exits.load(ordering: .relaxed) == 0)
    }

    @Test func relativeExecutableIsRejectedBeforeSpawning() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let error = await #expect(throws: SandboxError.self) {
            _ = try await sandbox.spawn(TestSupport.request("true", [])) { _ in }
        }

        #expect(error?.code == .invalidRequest)
    }

    @Test func missingWorkingDirectoryFailsAtChdir() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let error = await #expect(throws: SandboxError.self) {
            _ = try await sandbox.spawn(TestSupport.request("/bin/true", [], workingDirectory: "/nonexistent-cwd")) {
                _ in
            }
        }

        #expect(error?.step == .chdir)
        #expect(error?.errno == ENOENT)
    }

    @Test func hundredConcurrentSpawnsAllSucceedAndAreReaped() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let count = 100
        let started = DispatchTime.now().uptimeNanoseconds

        let results = try await withThrowingTaskGroup(
            of: (pid: Int32, status: RethinkSandbox.ExitStatus, gone: Bool, spawnNanoseconds: UInt64).self
        ) { group in
            for _ in 0..<count {
                group.addTask {
                    let (exits, continuation) = AsyncStream.makeStream(of: RethinkSandbox.ExitStatus.self)
                    let spawnStarted = DispatchTime.now().uptimeNanoseconds
                    let process = try await sandbox.spawn(TestSupport.request("/bin/true", [])) { status in
                        continuation.yield(status)
                        continuation.finish()
                    }
                    let spawnNanoseconds = DispatchTime.now().uptimeNanoseconds - spawnStarted
                    close(process.stdinFD)
                    close(process.stdoutFD)
                    close(process.stderrFD)
                    var status: RethinkSandbox.ExitStatus?
                    for await exitStatus in exits { status = exitStatus }
                    // The pid is gone from /proc once reaped: a zombie would still be listed.
                    let gone = !TestSupport.fileExists("/proc/\(process.pid)")
                    return (process.pid, try #require(status), gone, spawnNanoseconds)
                }
            }
            var results: [(pid: Int32, status: RethinkSandbox.ExitStatus, gone: Bool, spawnNanoseconds: UInt64)] = []
            for try await result in group { results.append(result) }
            return results
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6

        #expect(results.count == count)
        #expect(Set(results.map(\.pid)).count == count)
        #expect(results.allSatisfy { $0.status == .exited(0) })
        let zombies = results.filter { !$0.gone }.map(\.pid)
        #expect(zombies.isEmpty, "still in /proc after onExit: \(zombies)")
        let meanSpawn = Double(results.map(\.spawnNanoseconds).reduce(0, +)) / Double(count) / 1e6
        print(
            "\(count) concurrent /bin/true: all spawned, ran and reaped in \(Int(elapsed)) ms; spawn() took \(meanSpawn) ms on average"
        )
    }

    @Test func sigtermEndsChildAndOnExitReportsSignal15() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }
        let (exits, continuation) = AsyncStream.makeStream(of: RethinkSandbox.ExitStatus.self)
        let process = try await sandbox.spawn(TestSupport.request("/bin/sleep", ["30"])) { status in
            continuation.yield(status)
            continuation.finish()
        }
        defer {
            close(process.stdinFD)
            close(process.stdoutFD)
            close(process.stderrFD)
        }
        #expect(!process.hasExited)

        process.signal(SIGTERM)
        let status = try await TestSupport.firstExit(of: exits)

        #expect(status == .signaled(SIGTERM))
        #expect(process.hasExited)
        #expect(!TestSupport.fileExists("/proc/\(process.pid)"))
        process.signal(SIGKILL)
    }

    @Test func shutdownKillsChildrenStillRunning() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger)
        let (exits, continuation) = AsyncStream.makeStream(of: RethinkSandbox.ExitStatus.self)
        let process = try await sandbox.spawn(TestSupport.request("/bin/sleep", ["30"])) { status in
            continuation.yield(status)
            continuation.finish()
        }
        defer {
            close(process.stdinFD)
            close(process.stdoutFD)
            close(process.stderrFD)
        }

        sandbox.shutdown()
        let status = try await TestSupport.firstExit(of: exits)

        #expect(status == .signaled(SIGKILL))
        let error = await #expect(throws: SandboxError.self) {
            _ = try await sandbox.spawn(TestSupport.request("/bin/true", [])) { _ in }
        }
        #expect(error?.code == .spawnerUnavailable)
    }

    @Test func shutdownKillsTheChildrenOfEverySpawnerThread() async throws {
        let sandbox = try Sandbox(logger: TestSupport.logger, spawners: 4)
        #expect(sandbox.spawnerCount == 4)
        #expect(TestSupport.threadNames().filter { $0.hasPrefix("rt-spawner-") }.count >= 4)
        let count = 16
        let processes = try await withThrowingTaskGroup(
            of: (SandboxedProcess, AsyncStream<RethinkSandbox.ExitStatus>).self
        ) { group in
            for _ in 0..<count {
                group.addTask {
                    let (exits, continuation) = AsyncStream.makeStream(of: RethinkSandbox.ExitStatus.self)
                    let process = try await sandbox.spawn(TestSupport.request("/bin/sleep", ["30"])) { status in
                        continuation.yield(status)
                        continuation.finish()
                    }
                    return (process, exits)
                }
            }
            var processes: [(SandboxedProcess, AsyncStream<RethinkSandbox.ExitStatus>)] = []
            for try await process in group { processes.append(process) }
            return processes
        }
        defer {
            for (process, _) in processes {
                close(process.stdinFD)
                close(process.stdoutFD)
                close(process.stderrFD)
            }
        }

        sandbox.shutdown()
        var statuses: [RethinkSandbox.ExitStatus] = []
        for (_, exits) in processes { statuses.append(try await TestSupport.firstExit(of: exits)) }

        #expect(statuses.count == count)
        #expect(statuses.allSatisfy { $0 == .signaled(SIGKILL) }, "\(statuses)")
    }
}
