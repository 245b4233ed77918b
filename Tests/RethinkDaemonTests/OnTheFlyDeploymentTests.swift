import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A message to a never-seen domain deploys its stub on the fly, sandboxed, and the answer comes back.
@Suite(.timeLimit(.minutes(2)))
struct OnTheFlyDeploymentTests {
    @Test func firstMessageToANewDomainDeploysItsStubAndTheAnswerComesBack() async throws {
        try await using(TestRuntime(descriptors: ["beta.example": TestRuntime.python(Paths.echoStub)])) { runtime in
            let watcher = try await runtime.client()
            #expect(try await watcher.listen([runtime.runtimeURL + "/status"]).code == 200)
            let client = try await runtime.client()

            let response = try await client.request(
                .create, to: "hyperty://beta.example/bob", body: ["value": ["text": "hi"]])

            #expect(response.code == 200)
            #expect(response.from == "hyperty://beta.example/bob")
            #expect(response.to == client.greeting.clientURL)
            #expect(response.bodyValue == ["text": "hi"])
            let statuses = await watcher.collect(5) { $0.to.hasSuffix("/status") }
            #expect(
                statuses.compactMap { $0.body?["value"]?.stringValue } == [
                    "deploying", "deployed", "created", "in-progress", "live",
                ])
            #expect(statuses.allSatisfy { $0.body?["domain"]?.stringValue == "beta.example" })
            let stub = try #require(try await runtime.stub("beta.example", via: client))
            #expect(stub["status"]?.stringValue == "live")
            #expect(stub["url"]?.stringValue == "hyperty-runtime://beta.example/protostub/1")
            let pid = try #require(stub["pid"]?.intValue)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(status.contains("Seccomp:\t2"), "the stub runs under a seccomp filter")
            #expect(status.contains("NoNewPrivs:\t1"))
            // Where the deploy's time went, phase by phase (issue 13's first-contact breakdown).
            let timings = try #require(stub["deployMs"], "\(stub)")
            for phase in ["catalogue", "package", "spawn", "attach", "handshake", "statuses"] {
                let milliseconds = try #require(timings[phase]?.doubleValue, "\(phase) in \(timings)")
                #expect(milliseconds >= 0 && milliseconds < 15_000, "\(phase): \(milliseconds) ms")
            }
            #expect(timings["spawn"]?.doubleValue ?? 0 > 0, "a spawn takes time")
        }
    }

    @Test func nativeStubAnswersAndTheSecondMessageReusesIt() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native])) { runtime in
            let client = try await runtime.client()
            for index in 1...3 {
                let response = try await client.request(
                    .read, to: "hyperty://native.example/x", body: ["value": .int(Int64(index))])
                #expect(response.code == 200)
                #expect(response.bodyValue == .int(Int64(index)))
            }
            #expect(try await runtime.stub("native.example", via: client)?["restarts"] == 0)
            #expect(await runtime.daemon.stubPIDs().count == 1)
        }
    }

    @Test func thousandRequestsSentBeforeTheStubIsLiveArriveInOrder() async throws {
        try await using(TestRuntime(descriptors: ["slow.example": TestRuntime.testing(["liveDelayMs": 400])])) { runtime in
            let client = try await runtime.client()
            for index in 1...1000 {
                let message = Message.make(
                    id: .int(Int64(index)), type: .create, from: client.greeting.clientURL, to: "hyperty://slow.example/q",
                    body: ["value": .int(Int64(index))])
                try await client.send(message)
            }
            let responses = await client.collect(1000, seconds: 20) { $0.type == .response }
            #expect(responses.count == 1000)
            #expect(responses.allSatisfy { $0.code == 200 })
            #expect(responses.compactMap { $0.bodyValue?.intValue } == Array(1...1000))
            #expect(responses.compactMap { $0.id } == (1...1000).map { MessageID.int(Int64($0)) })
            #expect(await client.collect(1, seconds: 0.3).isEmpty, "no second response to any request")
        }
    }

    @Test func seedFormStatusUpdatesAreApplied() async throws {
        try await using(TestRuntime(descriptors: ["seed.example": TestRuntime.testing(["seedStatusForm": true])]
        )) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(.read, to: "hyperty://seed.example/x", body: ["value": "ping"])
            #expect(response.code == 200)
            _ = try await runtime.waitFor("seed.example", status: "live", via: client)
        }
    }

    @Test func inlineSourcePackageIsDeployed() async throws {
        let code = try String(contentsOfFile: Paths.echoStub, encoding: .utf8)
        let descriptor: JSONValue = [
            "objectName": "inline", "language": "PYTHON", "sourcePackageURL": "/sourcePackage",
            "sourcePackage": [
                "encoding": "base64", "sourceCode": .string(Data(code.utf8).base64EncodedString()),
                "sourceCodeClassname": "EchoStub",
            ],
        ]
        try await using(TestRuntime(descriptors: ["inline.example": descriptor])) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(.create, to: "hyperty://inline.example/x", body: ["value": 5])
            #expect(response.code == 200)
            #expect(response.bodyValue == 5)
        }
    }

    @Test func relativePackageURLResolvesAgainstTheCatalogueDirectory() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let catalogue = runtime.directory.appendingPathComponent("catalogue")
            try FileManager.default.createDirectory(
                at: catalogue.appendingPathComponent("pkg"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: Paths.echoStub, toPath: catalogue.appendingPathComponent("pkg/echo.py").path)
            try Data(TestRuntime.python("pkg/echo.py").jsonBytes).write(
                to: catalogue.appendingPathComponent("rel.example.json"))
            let client = try await runtime.client()
            let response = try await client.request(.create, to: "user://rel.example/alice", body: ["value": "r"])
            #expect(response.code == 200)
        }
    }

    @Test func aPackageWhoseHashDoesNotMatchIsRefusedWithTheReason() async throws {
        var descriptor = TestRuntime.python(Paths.echoStub)
        if case .object(var members) = descriptor {
            members.append(("sha256", .string(String(repeating: "0", count: 64))))
            descriptor = .object(members)
        }
        try await using(TestRuntime(descriptors: ["tampered.example": descriptor])) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(.create, to: "hyperty://tampered.example/x")
            #expect(response.code == 502)
            #expect(response.desc?.contains("sha256") == true)
            let stub = try #require(try await runtime.stub("tampered.example", via: client))
            #expect(stub["status"]?.stringValue == "deployment-failed")
            #expect(stub["desc"]?.stringValue?.contains("sha256") == true)
        }
    }
}
