import Foundation
import RethinkClient
import RethinkDaemon
import RethinkMessages
import RethinkTestKit
import Synchronization
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// What the daemon tells systemd (STATUS, WATCHDOG) and takes from it (credentials), with the test playing
/// the service manager.
@Suite(.timeLimit(.minutes(3))) struct SystemdIntegrationTests {
    private func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-sd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func statusTextCountsLiveStubsAndClients() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(in: directory)
        try await using(TestRuntime(
            descriptors: ["status.example": TestRuntime.testing()], environment: ["NOTIFY_SOCKET": notify.path])) { runtime in
            #expect(notify.receive(seconds: 5)?.contains("READY=1\nSTATUS=0 stubs live") == true)
            let client = try await runtime.client()
            let answer = try await client.request(.execute, to: "hyperty://status.example/x", body: ["value": "hi"])
            #expect(answer.code == 200)
            let texts = notify.collect(seconds: 0.6).map(\.text)
            #expect(texts.last == "STATUS=1 stub live, 0 deploying, 0 disconnected, 0 failed, 0 dead; 1 client")
        }
    }

    @Test func watchdogPingsComeFromTheEventLoopAndStopWhileItIsWedged() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(in: directory)
        try await using(TestRuntime(
            descriptors: [:], environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])) { runtime in
            let before = notify.collect(seconds: 0.7).filter { $0.text == "WATCHDOG=1" }
            #expect(before.count >= 4, "a ping every 100 ms (half of WATCHDOG_USEC)")
            let wedgeStart = ContinuousClock.now
            runtime.daemon.bus.eventLoop.execute { usleep(1_200_000) }
            let during = notify.collect(seconds: 1.6).filter { $0.text == "WATCHDOG=1" }
            let duringWedge = during.filter { $0.at - wedgeStart < .milliseconds(1100) }
            #expect(duringWedge.count <= 1, "a wedged loop sends no pings (one may already be in flight)")
            #expect(during.contains { $0.at - wedgeStart > .milliseconds(1200) }, "pings resume once the loop runs")
        }
    }

    @Test func aServiceManagerThatStopsReadingItsSocketNeverStallsTheDaemon() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(in: directory)
        // A ping every 5 ms, never read: the socket's queue (10 datagrams) is full after READY and a few pings.
        try await using(TestRuntime(
            descriptors: [:], environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "10000"])) { runtime in
            try await Task.sleep(for: .milliseconds(300))
            // A loop blocked in sendto would never greet a client nor answer it: the work races a deadline, polled,
            // since a task stuck on a loop that never runs cannot be cancelled.
            let codes = Mutex<[Int]?>(nil)
            Task {
                let client = try await runtime.client()
                var answered: [Int] = []
                for _ in 0..<20 {
                    answered.append(try await client.request(.read, to: runtime.runtimeURL + "/registry").code ?? 0)
                }
                codes.withLock { $0 = answered }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while codes.withLock({ $0 == nil }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(
                codes.withLock { $0 } == Array(repeating: 200, count: 20),
                "the daemon kept answering with the notify socket's queue full")
            withExtendedLifetime(notify) {}
        }
    }

    @Test func aWatchdogForAnotherProcessIsIgnored() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(in: directory)
        try await using(TestRuntime(
            descriptors: [:],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"])) { runtime in
            #expect(!notify.collect(seconds: 0.5).contains { $0.text == "WATCHDOG=1" })
        }
    }

    @Test func credentialsReachTheStubInItsDeployMessageOnlyNeverItsEnvironmentNorTheLog() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = "s3cret-\(UUID().uuidString)"
        let credentials: JSONValue = ["user": "alice", "password": .string(secret)]
        try Data(credentials.jsonBytes).write(to: directory.appendingPathComponent("cred.example.json"))
        try await using(TestRuntime(
            descriptors: ["cred.example": TestRuntime.testing()],
            environment: ["CREDENTIALS_DIRECTORY": directory.path])) { runtime in
            let client = try await runtime.client()
            let answer = try await client.request(
                .execute, to: "hyperty://cred.example/x", body: ["value": ["action": "identity"]])
            #expect(answer.bodyValue?["identity"]?["password"]?.stringValue == secret)
            let environment = answer.bodyValue?["environment"]?.jsonString ?? ""
            #expect(!environment.isEmpty && !environment.contains(secret))
            #expect(!environment.contains("CREDENTIALS_DIRECTORY"))
            #expect(!runtime.logs.all.contains { "\($0.message) \($0.metadata)".contains(secret) })
        }
    }

    @Test func aCredentialsFileOthersCanReadIsRefusedWithWhatToDo() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("open.example.json").path
        try Data(#"{"password": "x"}"#.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        try await using(TestRuntime(descriptors: ["open.example": TestRuntime.testing()]) {
            $0.credentialsDirectories = [directory.path]
        }) { runtime in
            let client = try await runtime.client()
            let answer = try await client.request(.execute, to: "hyperty://open.example/x", body: ["value": "hi"])
            #expect(answer.code == 502)
            #expect(answer.desc?.contains("chmod 600") == true)
            chmod(path, 0o600)
            try await client.request(.create, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "open.example"]])
            let retry = try await client.request(.execute, to: "hyperty://open.example/x", body: ["value": "hi"])
            #expect(retry.code == 200)
        }
    }

    @Test func aReloadAddsACatalogueWithoutDroppingClientsOrStubs() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await using(TestRuntime(descriptors: ["old.example": TestRuntime.testing()])) { runtime in
            let client = try await runtime.client()
            let first = try await client.request(.execute, to: "hyperty://old.example/x", body: ["value": "1"])
            #expect(first.code == 200)
            let oldPID = await runtime.daemon.stubPIDs()[DomainKey("old.example")!]
            let unknown = try await client.request(.execute, to: "hyperty://new.example/x", body: ["value": "1"])
            #expect(unknown.code == 404)
            let extra = directory.appendingPathComponent("extra")
            try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
            try Data(TestRuntime.testing().jsonBytes).write(to: extra.appendingPathComponent("new.example.json"))
            var new = runtime.daemon.configuration
            new.catalogues.append(extra.path)
            new.queueLimit = 5
            let notes = try await runtime.daemon.reload(new)
            #expect(notes.isEmpty)
            #expect(try await client.request(.execute, to: "hyperty://new.example/x", body: ["value": "2"]).code == 200)
            #expect(try await client.request(.execute, to: "hyperty://old.example/x", body: ["value": "2"]).code == 200)
            #expect(await runtime.daemon.stubPIDs()[DomainKey("old.example")!] == oldPID, "the running stub was kept")
        }
    }
}
