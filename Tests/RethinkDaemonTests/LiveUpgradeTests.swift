import Foundation
import RethinkClient
import RethinkMessages
import RethinkStubPackage
import RethinkTestKit
import Synchronization
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A domain that publishes a newer stub version gets it deployed in every runtime without a restart, and
/// not one request is lost on the way (SPEC section 7).
@Suite(.timeLimit(.minutes(2)))
struct LiveUpgradeTests {
    static let testingSource = Array(try! Data(contentsOf: URL(fileURLWithPath: Paths.testingStub)))

    /// Publishes the testing stub for remote.example as `version`; returns the package's path on the server.
    @discardableResult
    static func publish(
        _ version: String, on server: WellKnownServer, configuration: JSONValue = [:], package: [UInt8] = testingSource
    ) throws -> String {
        var publication = StubPublication(objectName: "testing", version: version, language: "python")
        publication.configuration = configuration
        return try server.publish(publication, host: "remote.example", package: package, fileName: "testing_stub.py")
    }

    /// A daemon that reaches remote.example at `server` and checks its version every 0.3 s.
    static func runtime(_ server: WellKnownServer) async throws -> TestRuntime {
        try await TestRuntime(descriptors: [:]) {
            $0.discovery.resolve = ["remote.example": "127.0.0.1:\(server.port)"]
            $0.discovery.caBundle = server.caBundle
            $0.discovery.versionCheckSeconds = 0.3
        }
    }

    /// remote.example published at `version` on a server of its own, a daemon that reaches it, and a client
    /// whose first request deployed the stub: what each test here starts from.
    static func withDeployedStub(
        version: String, _ body: (WellKnownServer, TestRuntime, RuntimeClient) async throws -> Void
    ) async throws {
        let server = try WellKnownServer(hosts: ["remote.example"])
        defer { server.stop() }
        try publish(version, on: server)
        try await using(runtime(server)) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.read, to: "hyperty://remote.example/first").code == 200)
            try await body(server, runtime, client)
        }
    }

    @Test func undeployedStubComesBackAtTheNewerVersionOnItsNextDeploy() async throws {
        try await Self.withDeployedStub(version: "1") { server, runtime, client in
            let undeploy = try await client.request(
                .delete, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "remote.example"]])
            #expect(undeploy.code == 200)
            try Self.publish("2", on: server)
            try await Task.sleep(for: .milliseconds(400))

            let response = try await client.request(.read, to: "hyperty://remote.example/b", body: ["value": 2])

            #expect(response.code == 200)
            #expect(try await runtime.stub("remote.example", via: client)?["version"]?.stringValue == "2")
        }
    }

    @Test func newerVersionRollsOverUnderContinuousTrafficAndEveryRequestIsAnswered() async throws {
        try await Self.withDeployedStub(version: "1.0") { server, runtime, client in
            let first = try #require(try await runtime.stub("remote.example", via: client))
            let oldPID = try #require(first["pid"]?.intValue)

            let done = Mutex(false)
            let traffic = Task {
                var responses: [Message] = []
                var index: Int64 = 0
                // Until the rollover is over, and at least 20 answers in (a busy host gets through fewer batches).
                while !done.withLock({ $0 }) || responses.count < 20 {
                    let batch = try await withThrowingTaskGroup(of: Message.self) { group in
                        for slot in 0..<4 {
                            index += 1
                            // Every fourth request takes 150 ms, so some are outstanding when the route switches.
                            let value: JSONValue = slot == 0 ? ["action": "delay", "ms": 150] : .int(index)
                            group.addTask {
                                try await client.request(
                                    .execute, to: "hyperty://remote.example/load", body: ["value": value])
                            }
                        }
                        return try await group.reduce(into: [Message]()) { $0.append($1) }
                    }
                    responses += batch
                }
                return responses
            }
            try await Task.sleep(for: .milliseconds(300))
            try Self.publish("1.1", on: server, configuration: ["liveDelayMs": 300])
            let upgraded = try await runtime.waitFor("remote.example", status: "live", via: try await runtime.client()) {
                $0["version"]?.stringValue == "1.1"
            }
            try await Task.sleep(for: .milliseconds(500))
            done.withLock { $0 = true }
            let responses = try await traffic.value

            let failures = responses.filter { $0.code != 200 }
            #expect(
                failures.isEmpty,
                "every request answered 200; got \(failures.prefix(3).map { "\($0.code ?? 0) \($0.desc ?? "")" })")
            #expect(upgraded["url"]?.stringValue == "hyperty-runtime://remote.example/protostub/2")
            let deadline = ContinuousClock.now + .seconds(5)
            while kill(Int32(oldPID), 0) == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(kill(Int32(oldPID), 0) != 0, "the old stub was undeployed after draining")
            // The line comes once its stop has finished, a moment after its process is gone.
            while !runtime.logs.all.contains(where: { $0.message.contains("retired after the rollover") }),
                ContinuousClock.now < deadline + .seconds(2)
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(runtime.logs.all.contains { $0.message.contains("retired after the rollover") })
        }
    }

    @Test func newerVersionThatIsRefusedLeavesTheRunningStubServing() async throws {
        try await Self.withDeployedStub(version: "1") { server, runtime, client in
            let tampered = Self.testingSource + Array("\n# not what was signed\n".utf8)
            let packagePath = try Self.publish("2", on: server, package: tampered)
            try Data(Self.testingSource).write(to: URL(fileURLWithPath: packagePath))

            let deadline = ContinuousClock.now + .seconds(10)
            while !runtime.logs.all.contains(where: {
                $0.message.contains("rollover of remote.example to version 2 failed")
            }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(50))
            }

            #expect(
                runtime.logs.all.contains {
                    $0.message.contains("rollover of remote.example to version 2 failed") && $0.message.contains("sha256")
                })
            let stub = try #require(try await runtime.stub("remote.example", via: client))
            #expect(stub["url"]?.stringValue == "hyperty-runtime://remote.example/protostub/1")
            #expect(stub["version"]?.stringValue == "1")
            #expect(stub["status"]?.stringValue == "live")
            let response = try await client.request(.read, to: "hyperty://remote.example/b", body: ["value": 5])
            #expect(response.code == 200)
            #expect(response.bodyValue == 5)
        }
    }
}
