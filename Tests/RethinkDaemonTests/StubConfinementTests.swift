import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A stub may only speak for its own domain and its own status.
@Suite(.timeLimit(.minutes(2)))
struct StubConfinementTests {
    @Test func aStubForgingAnotherDomainsFromIsIgnoredWhileItsOwnMessagesArrive() async throws {
        try await using(TestRuntime(descriptors: ["forger.example": TestRuntime.testing()])) { runtime in
            let alice = try await runtime.client()
            #expect(try await alice.listen(["hyperty://acme.example/alice"]).code == 200)
            let client = try await runtime.client()
            let forged = try await client.request(
                .execute, to: "hyperty://forger.example/x",
                body: [
                    "value": [
                        "action": "forge-from", "from": "hyperty://bank.example/teller",
                        "to": "hyperty://acme.example/alice",
                    ]
                ])
            #expect(forged.code == 200)
            let honest = try await client.askStub("hyperty://forger.example/x", toEmit: [
                "type": "create", "from": "hyperty://forger.example/bob", "to": "hyperty://acme.example/alice",
                "body": ["value": "honest"],
            ])
            #expect(honest.code == 200)
            let received = await alice.collect(2, seconds: 1)
            #expect(received.count == 1)
            #expect(received.first?.from == "hyperty://forger.example/bob")
            #expect(
                received.first?.via == ["hyperty-runtime://forger.example/protostub/1"],
                "the runtime records the stub in body.via")
            #expect(runtime.logs.all.contains { $0.message.contains("violation") && $0.message.contains("bank.example") })
        }
    }

    @Test func aStubDeliversAForeignFromToAnAddressOfItsOwnDomain() async throws {
        try await using(TestRuntime(descriptors: ["beta.example": TestRuntime.testing()])) { runtime in
            let bob = try await runtime.client()
            #expect(try await bob.listen(["hyperty://beta.example/bob"]).code == 200)
            let client = try await runtime.client()
            let delivered = try await client.askStub("hyperty://beta.example/node", toEmit: [
                "type": "create", "from": "hyperty://acme.example/alice", "to": "hyperty://beta.example/bob",
                "body": ["value": "from alice, through beta's node"],
            ])
            #expect(delivered.code == 200)
            let received = await bob.collect(1, seconds: 5)
            #expect(received.first?.from == "hyperty://acme.example/alice")
            #expect(received.first?.via == ["hyperty-runtime://beta.example/protostub/1"])
        }
    }

    @Test func aStubCannotSpeakForTheRuntimeAClientOrAnotherStubEvenToItsOwnDomain() async throws {
        try await using(TestRuntime(descriptors: [
            "forger.example": TestRuntime.testing(), "other.example": TestRuntime.testing(),
        ])) { runtime in
            let bob = try await runtime.client()
            #expect(try await bob.listen(["hyperty://forger.example/bob"]).code == 200)
            let client = try await runtime.client()
            let runtimeURL = client.greeting.runtimeURL
            for from in [
                "\(runtimeURL)/registry", "\(runtimeURL)/client/1", "hyperty-runtime://other.example/protostub/7",
            ] {
                let emitted = try await client.askStub("hyperty://forger.example/x", toEmit: ["type": "create", "from": .string(from), "to": "hyperty://forger.example/bob"])
                #expect(emitted.code == 200)
            }
            #expect(await bob.collect(1, seconds: 1).isEmpty, "none of the forged senders got through")
            #expect(runtime.logs.all.filter { $0.message.contains("violation") }.count >= 3)
        }
    }

    @Test func aStubCannotAnswerARequestItWasNeverPartOf() async throws {
        try await using(TestRuntime(descriptors: [
            "forger.example": TestRuntime.testing(), "victim.example": TestRuntime.testing(),
        ])) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.create, to: "hyperty://forger.example/x").code == 200)
            #expect(try await client.request(.create, to: "hyperty://victim.example/x").code == 200)
            // A request (id 3) the victim's stub holds for a while; the forger answers it for the victim meanwhile.
            async let slow = client.request(
                .execute, to: "hyperty://victim.example/teller", body: ["value": ["action": "delay", "ms": 1500]])
            let observer = try await runtime.client()
            for _ in 0..<250 {
                let counters = try await runtime.stub("victim.example", via: observer)?["messages"]
                if (counters?["toStub"]?.intValue ?? 0) >= 2 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let forged = try await client.askStub("hyperty://forger.example/x", toEmit: [
                "id": 3, "type": "response", "from": "hyperty://victim.example/teller",
                "to": .string(client.greeting.clientURL), "body": ["code": 200, "value": "forged"],
            ])
            #expect(forged.code == 200)
            let answer = try await slow
            #expect(answer.code == 200)
            #expect(answer.body?["value"]?.stringValue != "forged", "the victim's own answer, not the forger's")
            #expect(runtime.logs.all.contains { $0.message.contains("never routed through it") })
        }
    }

    @Test func aStubForgingAnotherStubsStatusIsIgnored() async throws {
        try await using(TestRuntime(descriptors: [
            "forger.example": TestRuntime.testing(), "victim.example": TestRuntime.testing(),
        ])) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.create, to: "hyperty://victim.example/x").code == 200)
            #expect(try await client.request(.create, to: "hyperty://forger.example/x").code == 200)
            let victimURL = "hyperty-runtime://victim.example/protostub/1"
            for value in ["failed", "disconnected"] {
                let forged = try await client.request(
                    .execute, to: "hyperty://forger.example/x",
                    body: ["value": ["action": "forge-status", "stub": .string(victimURL), "value": .string(value)]])
                #expect(forged.code == 200)
            }
            #expect(try await runtime.stub("victim.example", via: client)?["status"]?.stringValue == "live")
            #expect(try await client.request(.create, to: "hyperty://victim.example/x", body: ["value": 2]).code == 200)
        }
    }

    @Test func aStubSendingTooManyForeignMessagesIsStoppedAsFailed() async throws {
        try await using(TestRuntime(descriptors: ["spammer.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            for _ in 1...11 {
                _ = try await client.request(
                    .execute, to: "hyperty://spammer.example/x",
                    body: [
                        "value": [
                            "action": "forge-from", "from": "hyperty://bank.example/t", "to": "hyperty://acme.example/a",
                        ]
                    ])
            }
            let deadline = Date().addingTimeInterval(5)
            while await !runtime.daemon.stubPIDs().isEmpty, Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await runtime.daemon.stubPIDs().isEmpty)
            #expect(
                runtime.logs.all.contains {
                    $0.metadata["rethink_status"] == "failed" || $0.message.contains("stopped: it sent more than")
                })
        }
    }

    @Test func aStubsStderrReachesTheLogWithItsFieldsAndPriority() async throws {
        try await using(TestRuntime(descriptors: ["chatty.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(
                .execute, to: "hyperty://chatty.example/x",
                body: ["value": ["action": "log", "lines": ["<3>disk on fire", "all is well"]]])
            #expect(response.code == 200)
            try await Task.sleep(for: .milliseconds(200))
            let lines = runtime.logs.all.filter { $0.metadata["rethink_source"] == "stub" }
            let fire = try #require(lines.first { $0.message == "disk on fire" })
            #expect(fire.level == .error)
            #expect(fire.metadata["rethink_domain"] == "chatty.example")
            #expect(fire.metadata["rethink_stub_url"] == "hyperty-runtime://chatty.example/protostub/1")
            #expect(fire.metadata["rethink_stub_pid"] != nil)
            #expect(lines.contains { $0.message == "all is well" && $0.level == .info })
        }
    }
}

extension RuntimeClient {
    /// Asks the testing stub behind `address` to write `message` on its MiniBUS as its own.
    fileprivate func askStub(_ address: String, toEmit message: JSONValue) async throws -> Message {
        try await request(.execute, to: address, body: ["value": ["action": "emit", "message": message]])
    }
}
