import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// The client socket: greeting, listening, local delivery, ownership by Unix user.
@Suite(.timeLimit(.minutes(2)))
struct ClientSocketTests {
    @Test func greetingNamesTheRuntimeAndAClientURLNeverReused() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let first = try await runtime.client()
            await first.close()
            let second = try await runtime.client()
            #expect(first.greeting.runtimeURL == runtime.runtimeURL)
            #expect(first.greeting.clientURL == runtime.runtimeURL + "/client/1")
            #expect(second.greeting.clientURL == runtime.runtimeURL + "/client/2")
            #expect(second.greeting.maxMessageBytes == 1 << 20)
        }
    }

    @Test func aLocalListenerAnswersARequestFromAnotherClient() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let alice = try await runtime.client()
            #expect(try await alice.listen(["hyperty://acme.example/alice"]).code == 200)
            let bob = try await runtime.client()
            let answering = Task { () -> Message? in
                while let message = await alice.next() {
                    guard message.type == .create else { continue }
                    try await alice.send(message.response(code: 200, value: "hello bob"))
                    return message
                }
                return nil
            }
            let response = try await bob.request(.create, to: "hyperty://acme.example/alice", body: ["value": "hi alice"])
            #expect(response.code == 200)
            #expect(response.bodyValue == "hello bob")
            let request = try await answering.value
            #expect(request?.from == bob.greeting.clientURL)
        }
    }

    @Test func aMessageToAClientURLReachesThatClient() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let alice = try await runtime.client()
            let bob = try await runtime.client()
            try await bob.send(
                Message.make(
                    type: .create, from: bob.greeting.clientURL, to: alice.greeting.clientURL, body: ["value": "hi"]))
            let received = await alice.collect(1, seconds: 2)
            #expect(received.first?.from == bob.greeting.clientURL)
            #expect(received.first?.bodyValue == "hi")
            await alice.close()
            // Until the daemon has seen the close, a request may still reach alice and get 502 when she goes.
            var gone = try await bob.request(.create, to: alice.greeting.clientURL)
            for _ in 0..<100 where gone.code == 502 {
                try await Task.sleep(for: .milliseconds(20))
                gone = try await bob.request(.create, to: alice.greeting.clientURL)
            }
            #expect(gone.code == 404)
        }
    }

    @Test func aListenerThatLeavesWithoutAnsweringYields502() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let alice = try await runtime.client()
            #expect(try await alice.listen(["hyperty://acme.example/alice"]).code == 200)
            let bob = try await runtime.client()
            let closing = Task {
                while let message = await alice.next() {
                    guard message.type == .create else { continue }
                    await alice.close()
                    return
                }
            }
            let response = try await bob.request(.create, to: "hyperty://acme.example/alice")
            await closing.value
            #expect(response.code == 502)
            let after = try await bob.request(.create, to: "hyperty://acme.example/alice")
            #expect(after.code == 404, "a closed connection drops its addresses")
        }
    }

    @Test func unsubscribeStopsDelivery() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let alice = try await runtime.client()
            #expect(try await alice.listen(["hyperty://acme.example/alice"]).code == 200)
            let off = try await alice.request(
                .unsubscribe, to: runtime.runtimeURL + "/bus", body: ["unsubscribe": ["hyperty://acme.example/alice"]])
            #expect(off.code == 200)
            let bob = try await runtime.client()
            #expect(try await bob.request(.create, to: "hyperty://acme.example/alice").code == 404)
        }
    }

    @Test func listeningOnARemoteAddressAsksThatDomainsStubToRouteItHere() async throws {
        try await using(TestRuntime(descriptors: ["beta.example": TestRuntime.native])) { runtime in
            let client = try await runtime.client()
            #expect(try await client.listen(["hyperty://beta.example/bob"]).code == 200)
            let stub = try await runtime.waitFor("beta.example", status: "live", via: client)
            let counters = try #require(stub["messages"])
            #expect(counters["toStub"] == 1, "the remote subscribe reached beta.example's stub")
            let failing = try await client.listen(["hyperty://unknown.example/x"])
            #expect(failing.code == 200, "best effort: the local listener is in place")
        }
    }

    @Test func anotherUnixUserCanNeitherTakeAnAddressNorDeploy() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native])) { runtime in
            let root = try await runtime.client()
            #expect(try await root.listen(["hyperty://acme.example/alice"]).code == 200)
            let script = """
                import json, socket, sys
                s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
                greeting = json.loads(f.readline()); runtime = greeting["body"]["value"]["runtimeURL"]
                def ask(msg):
                    f.write((json.dumps(msg) + "\\n").encode()); f.flush(); return json.loads(f.readline())
                take = ask({"id": 1, "type": "subscribe", "to": runtime + "/bus", "body": {"subscribe": ["hyperty://acme.example/alice"]}})
                deploy = ask({"id": 2, "type": "create", "to": runtime + "/ua", "body": {"value": {"domain": "native.example"}}})
                own = ask({"id": 3, "type": "subscribe", "to": runtime + "/bus", "body": {"subscribe": ["hyperty://acme.example/carol"]}})
                print(take["body"]["code"], deploy["body"]["code"], own["body"]["code"])
                """
            let output = try runProcess(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, runtime.socket])
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "403 403 200")
            #expect(await runtime.daemon.stubPIDs().isEmpty, "nobody's deploy did not happen")
        }
    }
}

/// Runs a command to completion and returns its standard output.
func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
    let child = try ChildProcess(executable, arguments, captureOutput: true)
    let output = child.readOutput()
    child.wait()
    return output
}
