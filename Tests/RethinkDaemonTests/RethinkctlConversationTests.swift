import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// `rethinkctl` holds one conversation from the shell: `send --as` listens and sends on one connection,
/// `listen --reply` and `listen --exec` answer what arrives and show its id, from and via.
@Suite(.timeLimit(.minutes(2)))
struct RethinkctlConversationTests {
    /// Runs rethinkctl against `runtime` with `arguments`; returns (exit code, stdout).
    static func rethinkctl(_ runtime: TestRuntime, _ arguments: [String]) throws -> (Int32, String) {
        let child = try ChildProcess(
            Paths.product("rethinkctl"), [arguments[0], "--socket", runtime.socket] + arguments.dropFirst(),
            captureOutput: true)
        let output = child.readOutput()
        return (child.exitCode, output)
    }

    /// Starts `rethinkctl listen` and waits until its listener is in place: a probe `read` to the address is
    /// answered 404 (no stub serves that reserved domain) until the listener answers it, which it counts.
    static func listener(_ runtime: TestRuntime, _ arguments: [String], address: String) async throws -> ChildProcess {
        let child = try ChildProcess(
            Paths.product("rethinkctl"), ["listen", "--socket", runtime.socket] + arguments + [address],
            captureOutput: true)
        let probe = try await runtime.client()
        for _ in 0..<500 {
            let answer = try await probe.request(.read, to: address, timeout: .seconds(5))
            if answer.code != 404 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return child
    }

    @Test func sendAsGetsTheAnswerOfListenReplyAndTheListenerShowsIdFromAndVia() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let bob = try await Self.listener(
                runtime, ["--reply", #"{"text":"hi alice"}"#, "--count", "2"], address: "hyperty://bob.conversation.test/bob")

            let (code, output) = try Self.rethinkctl(
                runtime, ["send", "--as", "hyperty://acme.example/alice", "hyperty://bob.conversation.test/bob", #"{"text":"hi bob"}"#])

            #expect(code == 0)
            #expect(output.contains("200"))
            #expect(output.contains(#""text":"hi alice""#), "\(output)")
            kill(bob.pid, SIGTERM)
            let shown = bob.readOutput()
            // id 1 was the connection's own subscribe.
            #expect(shown.contains("create id 2 hyperty://acme.example/alice -> hyperty://bob.conversation.test/bob"), "\(shown)")
        }
    }

    @Test func listenExecAnswersWithTheCommandsOutputAndItsExitStatus() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let carol = try await Self.listener(
                runtime,
                ["--exec", #"grep -q '"fail"' && { echo no >&2; exit 3; }; echo '{"seen":true}'"#, "--count", "3"],
                address: "hyperty://carol.conversation.test/carol")

            let ok = try Self.rethinkctl(
                runtime, ["send", "--json", "--as", "hyperty://acme.example/alice", "hyperty://carol.conversation.test/carol", "1"])
            let failed = try Self.rethinkctl(
                runtime, ["send", "--as", "hyperty://acme.example/alice", "hyperty://carol.conversation.test/carol", #""fail""#])

            #expect(ok.0 == 0)
            #expect(ok.1.contains(#""value":{"seen":true}"#), "\(ok.1)")
            #expect(failed.0 != 0, "a final code of 300 or more makes send fail")
            #expect(failed.1.contains("500") && failed.1.contains("status 3") && failed.1.contains("no"), "\(failed.1)")
            kill(carol.pid, SIGTERM)
            _ = carol.readOutput()
            carol.wait()
        }
    }
}
