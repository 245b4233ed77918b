import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A stub nobody uses does not run for ever (docs/OPERATIONS.md, "Idle stubs"): with no traffic and no client
/// listening in its domain for `stubIdleSeconds` it is undeployed, and the next message deploys it again and
/// is answered once; a listener, or a descriptor's `idleSeconds: 0`, keeps it.
@Suite(.timeLimit(.minutes(2)))
struct IdleShutdownTests {
    /// One second of idleness.
    static func runtime(_ descriptors: [String: JSONValue] = ["native.example": TestRuntime.native]) async throws
        -> TestRuntime
    {
        try await TestRuntime(descriptors: descriptors) { $0.stubIdleSeconds = 1 }
    }

    /// Waits until the log says the domain's stub was undeployed as idle `count` times in all.
    static func waitForIdleUndeploys(_ runtime: TestRuntime, _ count: Int, seconds: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while runtime.logs.all.filter({ $0.message.contains("undeployed: idle") }).count < count, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func anIdleStubIsUndeployedAndTheNextMessageDeploysItAgain() async throws {
        try await using(Self.runtime()) { runtime in
            let client = try await runtime.client()
            let watcher = try await runtime.client()
            #expect(try await watcher.listen([runtime.runtimeURL + "/status"]).code == 200)
            #expect(try await client.request(.read, to: "hyperty://native.example/x").code == 200)
            let first = try #require(try await runtime.stub("native.example", via: client))
            let pid = try #require(first["pid"]?.intValue)
            try await Self.waitForIdleUndeploys(runtime, 1)
            let line = try #require(runtime.logs.all.first { $0.message.contains("undeployed: idle") })
            #expect(line.metadata["rethink_reason"] == "idle")
            #expect(try await runtime.stub("native.example", via: client) == nil, "gone from the registry")
            let undeployed = await watcher.collect(1, seconds: 5) { $0.body?["value"]?.stringValue == "undeployed" }
            #expect(undeployed.first?.body?["reason"]?.stringValue == "idle", "the status stream says undeployed, idle")
            var exited = false
            for _ in 0..<250 where !exited {
                exited = kill(Int32(pid), 0) != 0
                if !exited { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(exited, "the idle stub's process ended")
            let again = try await client.request(.read, to: "hyperty://native.example/x", body: ["value": "again"])
            #expect(again.code == 200)
            #expect(again.bodyValue == "again")
            let second = try await runtime.stub("native.example", via: client)
            #expect(second?["url"] != first["url"], "a new stub: \(second?.jsonString ?? "none")")
        }
    }

    @Test func requestsSpacedBeyondTheIdleTimeEachGetOneAnswerFromAStubDeployedForThem() async throws {
        try await using(Self.runtime()) { runtime in
            let client = try await runtime.client()
            for round in 1...4 {
                let answer = try await client.request(.read, to: "hyperty://native.example/x", body: ["value": .int(Int64(round))])
                #expect(answer.code == 200, "round \(round): \(answer.text)")
                #expect(answer.bodyValue == .int(Int64(round)))
                try await Self.waitForIdleUndeploys(runtime, round)
            }
            #expect(client.duplicateFinalResponses == 0)
            #expect(await client.collect(1, seconds: 0.3).isEmpty, "no stray answer")
        }
    }

    @Test func aStubThatOwesAnAnswerIsNotIdle() async throws {
        try await using(Self.runtime(["py.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.read, to: "hyperty://py.example/x").code == 200)
            // Quiet for 2.5 s (more than its idle time) while it works on this request: kept, and answered.
            let answer = try await client.request(
                .execute, to: "hyperty://py.example/x", body: ["value": ["action": "delay", "ms": 2500]])
            #expect(answer.code == 200, "\(answer.text)")
            #expect(runtime.logs.all.filter { $0.message.contains("undeployed: idle") }.isEmpty)
        }
    }

    @Test func aClientListeningInTheDomainOrADescriptorsIdleSecondsZeroKeepsTheStub() async throws {
        var keeper = TestRuntime.native
        if case .object(var fields) = keeper {
            fields.append(("idleSeconds", 0))
            keeper = .object(fields)
        }
        try await using(Self.runtime([
            "native.example": TestRuntime.native, "keep.example": keeper, "busy.example": TestRuntime.native,
        ])) { runtime in
            let client = try await runtime.client()
            let listener = try await runtime.client()
            #expect(try await listener.listen(["hyperty://busy.example/alice"]).code == 200)
            for domain in ["native.example", "keep.example", "busy.example"] {
                #expect(try await client.request(.read, to: "hyperty://\(domain)/x").code == 200)
            }
            // native.example is the clock: it goes idle, is deployed again, and goes idle a second time. By then the
            // other two have been quiet for more than twice their idle time, and must still be there.
            try await Self.waitForIdleUndeploys(runtime, 1)
            #expect(try await runtime.stub("native.example", via: client) == nil)
            #expect(try await client.request(.read, to: "hyperty://native.example/x").code == 200)
            try await Self.waitForIdleUndeploys(runtime, 2)
            #expect(try await runtime.stub("native.example", via: client) == nil)
            #expect(try await runtime.stub("keep.example", via: client)?["status"] == "live", "idleSeconds 0: never idle")
            #expect(try await runtime.stub("busy.example", via: client)?["status"] == "live", "a client listens there")
            let idle = runtime.logs.all.filter { $0.message.contains("undeployed: idle") }
            #expect(idle.count == 2 && idle.allSatisfy { $0.metadata["rethink_domain"] == "native.example" }, "\(idle.map(\.message))")
        }
    }
}
