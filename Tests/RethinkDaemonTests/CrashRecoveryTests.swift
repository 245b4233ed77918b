import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A stub that exits unexpectedly: its outstanding requests get 502, it comes back, and after repeated
/// crashes the runtime gives up on it.
@Suite(.timeLimit(.minutes(2)))
struct CrashRecoveryTests {
    @Test func aCrashMidStreamAnswers502ToOutstandingRequestsAndTheStubIsRedeployed() async throws {
        try await using(TestRuntime(descriptors: ["crashy.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.create, to: "hyperty://crashy.example/x", body: ["value": 0]).code == 200)
            let firstPID = try #require(await runtime.daemon.stubPIDs().values.first)
            for index in 1...3 {
                try await client.send(
                    Message.make(
                        id: .int(Int64(index)), type: .execute, from: client.greeting.clientURL,
                        to: "hyperty://crashy.example/x",
                        body: ["value": ["action": "delay", "ms": 5000]]))
            }
            try await client.send(
                Message.make(
                    id: 4, type: .execute, from: client.greeting.clientURL, to: "hyperty://crashy.example/x",
                    body: ["value": ["action": "crash", "code": 3]]))
            let answers = await client.collect(4) { $0.type == .response }
            #expect(answers.count == 4)
            #expect(answers.allSatisfy { $0.code == 502 })
            #expect(answers.allSatisfy { $0.desc?.contains("exited with status 3") == true })

            let started = Date()
            let again = try await client.request(.create, to: "hyperty://crashy.example/x", body: ["value": "back"])
            #expect(again.code == 200)
            #expect(again.bodyValue == "back")
            #expect(Date().timeIntervalSince(started) < 3, "the first retry comes within a second")
            let stub = try #require(try await runtime.stub("crashy.example", via: client))
            #expect(stub["restarts"] == 1)
            #expect(stub["url"]?.stringValue == "hyperty-runtime://crashy.example/protostub/2")
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(firstPID)"), "the crashed stub was reaped: no zombie")
            #expect(await client.collect(1, seconds: 0.3).isEmpty, "no second response to any request")
        }
    }

    @Test func fiveCrashesWithinAMinuteMakeTheStubDeadUntilAnOperatorRedeploysIt() async throws {
        try await using(TestRuntime(descriptors: ["doomed.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            for _ in 1...5 {
                let crash = try await client.request(
                    .execute, to: "hyperty://doomed.example/x", body: ["value": ["action": "crash", "code": 1]])
                #expect(crash.code == 502)
            }
            let dead = try await runtime.waitFor("doomed.example", status: "dead", via: client)
            #expect(dead["desc"]?.stringValue?.contains("repeated crashes") == true)
            let refused = try await client.request(.create, to: "hyperty://doomed.example/x")
            #expect(refused.code == 503)
            #expect(await runtime.daemon.stubPIDs().isEmpty)

            let redeploy = try await client.request(
                .create, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "doomed.example"]])
            #expect(redeploy.code == 200)
            #expect(try await client.request(.create, to: "hyperty://doomed.example/x", body: ["value": 1]).code == 200)
            try await Task.sleep(for: .milliseconds(200))
            #expect(client.duplicateFinalResponses == 0)
        }
    }

    @Test func aStubKilledBySIGSYSInKillModeFailsWithTheReason() async throws {
        let hostile: JSONValue = [
            "objectName": "hostile", "language": "executable",
            "sourcePackageURL": .string(Paths.product("rethink-hostile-stub")),
        ]
        try await using(TestRuntime(descriptors: ["hostile.example": hostile]) {
            $0.sandbox.defaultAction = .kill
        }) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(.create, to: "hyperty://hostile.example/x")
            #expect(response.code == 502)
            #expect(response.desc?.contains("SIGSYS") == true, "\(response.code ?? 0) \(response.desc ?? "")")
        }
    }
}
