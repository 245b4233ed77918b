import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// Every request that enters the runtime gets exactly one final response; these are the runtime's own.
@Suite(.timeLimit(.minutes(2)))
struct RuntimeAnswerTests {
    @Test func badLinesAreAnsweredAndTheConnectionStaysOpen() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native]) {
            $0.maxMessageBytes = 4096
        }) { runtime in
            let client = try await runtime.client()
            try await client.sendLine(Array("this is not json".utf8))
            try await client.sendLine(Array(#"{"id": 5, "type": "shout", "to": "hyperty://native.example/x"}"#.utf8))
            try await client.sendLine(Array(#"{"id": 6, "type": "create"}"#.utf8))
            try await client.sendLine(
                Array(
                    (#"{"id": 7, "type": "create", "to": "hyperty://native.example/x", "body": {"v": ""#
                        + String(repeating: "x", count: 5000) + #""}}"#).utf8))
            let answers = await client.collect(4)
            #expect(answers.map(\.code) == [400, 400, 400, 413])
            // The over-long line's id comes before the cut, so its 413 carries it.
            #expect(answers.map(\.id) == [nil, .int(5), .int(6), .int(7)])
            #expect(answers[1].from == "hyperty://native.example/x", "from the address the request was sent to")
            #expect(answers[0].from == runtime.runtimeURL)
            #expect(answers.allSatisfy { $0.to == client.greeting.clientURL })
            let after = try await client.request(.read, to: "hyperty://native.example/x", body: ["value": 1])
            #expect(after.code == 200)
        }
    }

    @Test func aLineWithInvalidUTF8IsAnswered400AndNothingInvalidIsEverWritten() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native])) { runtime in
            let client = try await runtime.client()
            // In `to`, in the id, in the body: each would have reached the stub and come back in its answer.
            let lines: [[UInt8]] = [
                Array(#"{"id": "a", "type": "create", "to": "hyperty://native.example/x"#.utf8) + [0xFF, 0xFE]
                    + Array(#"", "body": {}}"#.utf8),
                Array(#"{"id": "b"#.utf8) + [0xC3] + Array(#"", "type": "create", "to": "hyperty://native.example/x"}"#.utf8),
                Array(#"{"id": "c", "type": "create", "to": "hyperty://native.example/x", "body": {"v": ""#.utf8) + [0xED, 0xA0, 0x80]
                    + Array(#""}}"#.utf8),
                Array(#"{"id": "d", "type": "create", "to": "hyperty://native.example/x", "body": {"v": "\ud800"}}"#.utf8),
            ]
            for line in lines { try await client.sendLine(line) }
            let answers = await client.collect(4)
            #expect(answers.map(\.code) == [400, 400, 400, 400], "\(answers.map(\.text))")
            #expect(answers.allSatisfy { String(validating: $0.bytes, as: UTF8.self) != nil }, "every answer is UTF-8")
            #expect(answers.map { $0.desc ?? "" }.filter { $0.contains("invalid UTF-8") || $0.contains("lone surrogate") }.count == 4)
            #expect(try await client.request(.read, to: "hyperty://native.example/x", body: ["value": "ok"]).code == 200)
        }
    }

    @Test func onlyTheRegistryPublishesOnTheStatusStream() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native])) { runtime in
            let watcher = try await runtime.client()
            #expect(try await watcher.listen([runtime.runtimeURL + "/status"]).code == 200)
            let forger = try await runtime.client()
            let forged = try await forger.request(
                .update, to: runtime.runtimeURL + "/status",
                body: ["value": "dead", "resource": "hyperty-runtime://native.example/protostub/1"])
            #expect(forged.code == 403)
            #expect(try await forger.request(.read, to: "hyperty://native.example/x").code == 200)
            let seen = await watcher.collect(8, seconds: 1)
            #expect(!seen.contains { $0.body?["value"]?.stringValue == "dead" }, "the forged update reached nobody")
            #expect(seen.contains { $0.body?["value"]?.stringValue == "live" }, "the Registry's own updates still do")
        }
    }

    @Test func aNullIdOrAMalformedIdIsAnsweredOnceWithANullId() async throws {
        try await using(TestRuntime(descriptors: ["native.example": TestRuntime.native])) { runtime in
            let client = try await runtime.client()
            try await client.sendLine(Array(#"{"id": 007, "type": "read", "to": "hyperty://native.example/x"}"#.utf8))
            try await client.sendLine(Array(#"{"id": null, "type": "read", "to": "hyperty://native.example/x"}"#.utf8))
            let answers = await client.collect(3, seconds: 2)
            #expect(answers.map(\.code) == [400, 400], "one answer each, no more")
            #expect(answers.allSatisfy { $0.id == nil && $0.text.hasPrefix(#"{"id":null,"#) })
        }
    }

    @Test func aFromTheClientDoesNotOwnIsRefused() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let client = try await runtime.client()
            let response = try await client.request(
                .create, to: "hyperty://x.example/a", from: "hyperty://acme.example/mallory")
            #expect(response.code == 403)
            #expect(try await client.listen(["hyperty://acme.example/alice"]).code == 200)
            let owned = try await client.request(
                .create, to: runtime.runtimeURL + "/nothing", from: "hyperty://acme.example/alice")
            #expect(owned.code == 404, "an address the client listens on is its own")
        }
    }

    @Test func noDescriptorAndNoDomainAreNoRoute() async throws {
        try await using(TestRuntime(descriptors: [:])) { runtime in
            let client = try await runtime.client()
            let unknown = try await client.request(.create, to: "hyperty://nowhere.example/x")
            #expect(unknown.code == 404)
            #expect(unknown.desc?.contains("no descriptor for nowhere.example") == true)
            #expect(try await client.request(.create, to: "hyperty://bad_host/x").code == 404)
            #expect(try await client.request(.create, to: runtime.runtimeURL + "/unknown").code == 404)
        }
    }

    @Test func aSilentStubMakesTheRuntimeAnswer408AndTheLateAnswerIsDropped() async throws {
        try await using(TestRuntime(descriptors: ["quiet.example": TestRuntime.testing()], responseTimeout: 0.5)) { runtime in
            let client = try await runtime.client()
            // The stub is deployed first (its deploy counts against the 0.5 s too, and takes longer on a busy host), so
            // that the bound below is the response timeout's alone.
            _ = try await client.request(.read, to: "hyperty://quiet.example/x", body: ["value": 1])
            _ = try await runtime.waitFor("quiet.example", status: "live", via: client)
            let started = Date()
            let silent = try await client.request(
                .execute, to: "hyperty://quiet.example/x", body: ["value": ["action": "silent"]])
            #expect(silent.code == 408)
            #expect(Date().timeIntervalSince(started) < 2)
            let late = try await client.request(
                .execute, to: "hyperty://quiet.example/x", body: ["value": ["action": "delay", "ms": 900]])
            #expect(late.code == 408)
            #expect(await client.collect(1, seconds: 1).isEmpty, "the stub's late answer is dropped, not delivered")
            #expect(client.duplicateFinalResponses == 0, "the stub's late answer is dropped, not delivered")
        }
    }

    @Test func anOverlongRequestGets413WithItsOwnIDAndAStubsOverlongAnswerIsA502AtOnce() async throws {
        try await using(TestRuntime(descriptors: ["big.example": TestRuntime.testing()], responseTimeout: 30) {
            $0.maxMessageBytes = 4096
        }) { runtime in
            let client = try await runtime.client()
            // Over the limit: refused at once, with the request's own id (it comes first in the line).
            let refused = try await client.request(
                .execute, to: "hyperty://big.example/x", body: ["value": .string(String(repeating: "x", count: 5000))],
                timeout: .seconds(10))
            #expect(refused.code == 413, "\(refused.desc ?? "")")
            // Within the limit, but the stub's echo is not: 1,200 "é" are 2,400 bytes here and 7,200 in its answer
            // (it writes \u00e9). The requester hears 502 now, not 408 after the 30 s response timeout.
            let echoed = try await client.request(
                .execute, to: "hyperty://big.example/x", body: ["value": .string(String(repeating: "é", count: 1200))],
                timeout: .seconds(10))
            #expect(echoed.code == 502, "\(echoed.desc ?? "")")
            #expect(echoed.desc?.contains("over the 4096-byte message limit") == true, "\(echoed.desc ?? "")")
            #expect(try await client.request(.read, to: "hyperty://big.example/x", body: ["value": "small"]).code == 200)
        }
    }

    @Test func aPeerPastItsInFlightLimitGets429UntilItsRequestsAreAnswered() async throws {
        // The five must still be in flight when the sixth arrives: on a loaded 2-core host the gap between them has
        // passed 2 s, so their timeout leaves room for that and the collect below waits it out.
        try await using(TestRuntime(descriptors: ["quiet.example": TestRuntime.testing()], responseTimeout: 8) {
            $0.maxInFlightPerPeer = 5
        }) { runtime in
            let client = try await runtime.client()
            _ = try await client.request(.read, to: "hyperty://quiet.example/x", body: ["value": 1])
            _ = try await runtime.waitFor("quiet.example", status: "live", via: client)
            // Five requests the stub never answers are in flight; the sixth is refused at once.
            for id in 100..<105 {
                try await client.send(
                    Message.make(
                        id: .int(Int64(id)), type: .execute, from: client.greeting.clientURL, to: "hyperty://quiet.example/x",
                        body: ["value": ["action": "silent"]]))
            }
            let refused = try await client.request(.read, to: "hyperty://quiet.example/x", body: ["value": 2])
            #expect(refused.code == 429, "\(refused.desc ?? "")")
            #expect(refused.desc?.contains("maxInFlightPerPeer") == true)
            // Once they have had their 408s, the peer may ask again.
            let timedOut = await client.collect(5, seconds: 30) { $0.code == 408 }
            #expect(timedOut.count == 5)
            #expect(try await client.request(.read, to: "hyperty://quiet.example/x", body: ["value": 3]).code == 200)
        }
    }

    @Test func aFullDeployQueueAnswers429() async throws {
        // The response timeout is long enough that none of the five times out, and frees its place, while a loaded
        // host gets to the next three; the test ends once they are refused (its teardown answers the five 503).
        try await using(TestRuntime(
            descriptors: ["stuck.example": TestRuntime.testing(["deploy": "never-live"])], responseTimeout: 30,
            queueLimit: 5, configure: { $0.shutdownDrainSeconds = 0 })) { runtime in
            let client = try await runtime.client()
            let observer = try await runtime.client()
            try await Self.send(1...5, from: client, to: "hyperty://stuck.example/x")
            let deadline = Date().addingTimeInterval(20)
            var queued: Int64?
            while queued != 5, Date() < deadline {
                queued = try await runtime.stub("stuck.example", via: observer)?["messages"]?["queued"]?.intValue
                if queued != 5 { try await Task.sleep(for: .milliseconds(10)) }
            }
            try #require(queued == 5, "the five requests wait in the queue")
            try await Self.send(6...8, from: client, to: "hyperty://stuck.example/x")
            let refused = await client.collect(3, seconds: 5) { $0.type == .response }
            #expect(refused.map(\.code) == [429, 429, 429])
            #expect(refused.map(\.id) == [.int(6), .int(7), .int(8)])
        }
    }

    @Test func queuedRequestsTimeOutWithTheirClockRunningFromEntry() async throws {
        // A stub that never goes live never takes them: a 408 can only come from the clock each started on entry.
        try await using(TestRuntime(
            descriptors: ["stuck.example": TestRuntime.testing(["deploy": "never-live"])], responseTimeout: 1.5
        )) { runtime in
            let client = try await runtime.client()
            let sent = Date()
            try await Self.send(1...5, from: client, to: "hyperty://stuck.example/x")
            let timedOut = await client.collect(5, seconds: 15) { $0.type == .response }
            #expect(timedOut.map(\.code) == [408, 408, 408, 408, 408])
            #expect(Date().timeIntervalSince(sent) >= 1.4, "not before the response timeout")
            #expect(await client.collect(1, seconds: 0.5).isEmpty, "exactly one final response each")
        }
    }

    private static func send(_ indices: ClosedRange<Int>, from client: RuntimeClient, to address: String) async throws {
        for index in indices {
            try await client.send(
                Message.make(id: .int(Int64(index)), type: .create, from: client.greeting.clientURL, to: address))
        }
    }

    @Test func aStubThatRefusesItsDeployGives502ToWhatWaits() async throws {
        try await using(TestRuntime(descriptors: [
            "refuses.example": TestRuntime.testing(["deploy": "fail"]),
            "quits.example": TestRuntime.testing(["deploy": "exit"]),
        ])) { runtime in
            let client = try await runtime.client()
            let refused = try await client.request(.create, to: "hyperty://refuses.example/x")
            #expect(refused.code == 502)
            #expect(refused.desc?.contains("refused the deploy message with code 500") == true)
            let quit = try await client.request(.create, to: "hyperty://quits.example/x")
            #expect(quit.code == 502)
            #expect(quit.desc?.contains("exited with status 4") == true)
            #expect(try await runtime.stub("quits.example", via: client)?["status"]?.stringValue == "deployment-failed")
        }
    }

    @Test func undeployAnswers503ToWhatWaitsAndAllowsARedeploy() async throws {
        try await using(TestRuntime(descriptors: [
            "stuck.example": TestRuntime.testing(["deploy": "never-live"])
        ])) { runtime in
            let client = try await runtime.client()
            let operatorClient = try await runtime.client()
            try await client.send(
                Message.make(id: 1, type: .create, from: client.greeting.clientURL, to: "hyperty://stuck.example/x"))
            _ = try await runtime.waitFor("stuck.example", status: "in-progress", via: operatorClient)
            let undeploy = try await operatorClient.request(
                .delete, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "stuck.example"]])
            #expect(undeploy.code == 200)
            let answers = await client.collect(1) { $0.type == .response }
            #expect(answers.first?.code == 503)
            #expect(await runtime.daemon.stubPIDs().isEmpty)
            let deploy = try await operatorClient.request(
                .create, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "stuck.example"]])
            #expect(deploy.code == 200)
            #expect(deploy.bodyValue?["url"]?.stringValue == "hyperty-runtime://stuck.example/protostub/2")
        }
    }
}
