import Foundation
import RethinkTestKit

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A process of the daemon's user, dumpable, holding a secret in its environment: a target the controls may
/// read and signal (with 0) without harm. Ready once it closed its stdout.
final class Decoy: @unchecked Sendable {
    let secret = "decoy-\(UUID().uuidString.prefix(8))"
    private let process: ChildProcess
    var pid: pid_t { process.pid }

    init(_ user: DaemonUser) throws {
        let script = "import os, time; os.write(1, b'ready'); os.close(1); time.sleep(600)"
        process = try ChildProcess(
            "/usr/bin/env",
            ["-i", "RETHINK_DECOY_SECRET=\(secret)"] + user.launcher + ["/usr/bin/python3", "-I", "-c", script],
            captureOutput: true)
        guard process.readOutput() == "ready" else {
            stop()
            throw TestSetupError("the decoy process did not start")
        }
    }

    func stop() {
        kill(process.pid, SIGKILL)
        process.wait()
    }
}
