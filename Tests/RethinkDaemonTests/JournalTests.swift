import Foundation
import Logging
import RethinkClient
import RethinkJournal
import RethinkMessages
import RethinkTestKit
import Testing

/// The daemon's story in a real journald: structured fields on every entry, the stubs' stderr under the
/// stubs' fields, big and multi-line entries, and a stalled journal that costs stub lines, not the daemon.
@Suite(.serialized) struct JournalTests {
    private func handler(_ journal: JournalSocket, dropped: DroppedLineCounter = DroppedLineCounter()) -> Logger {
        Logger(label: "journal-test") { _ in
            JournalLogHandler(
                identifier: "rethink-test", journal: journal, level: LogLevelControl(.debug), dropped: dropped,
                fallback: { _ in })
        }
    }

    @Test func entriesCarryTheStubsFieldsAndTheStubsStderrItsPriority() async throws {
        let journald = try StandaloneJournald()
        defer { journald.stop() }
        let journal = try JournalSocket(path: journald.socketPath)
        try await using(TestRuntime(descriptors: ["journal.example": TestRuntime.testing()], journal: journal)) { runtime in
            let client = try await runtime.client()
            let answer = try await client.request(
                .execute, to: "hyperty://journal.example/x",
                body: ["value": ["action": "log", "lines": ["<3>the message node refused us", "plain line"]]])
            #expect(answer.code == 200)
            let pid = await runtime.daemon.stubPIDs()[DomainKey("journal.example")!] ?? -1

            let live = try journald.waitForEntries {
                $0["MESSAGE_ID"] as? String == JournalMessageID.stubLive && $0["RETHINK_DOMAIN"] as? String == "journal.example"
            }
            let entry = try #require(live.first)
            #expect(entry["RETHINK_STATUS"] as? String == "live")
            #expect((entry["RETHINK_STUB_URL"] as? String)?.hasPrefix("hyperty-runtime://journal.example/protostub/") == true)
            #expect((entry["CODE_FILE"] as? String)?.hasSuffix("Registry.swift") == true)
            #expect(entry["CODE_LINE"] != nil && entry["CODE_FUNC"] != nil)
            #expect(entry["SYSLOG_IDENTIFIER"] as? String == "rethink-test")

            let started = try journald.waitForEntries {
                $0["RETHINK_DOMAIN"] as? String == "journal.example" && $0["RETHINK_STUB_PID"] as? String == "\(pid)"
            }
            #expect(!started.isEmpty, "entries about the stub's process carry its PID")
            let deployed = try journald.waitForEntries { $0["MESSAGE_ID"] as? String == JournalMessageID.stubDeployed }
            #expect(!deployed.isEmpty)

            let stubLines = try journald.waitForEntries {
                $0["RETHINK_SOURCE"] as? String == "stub" && $0["RETHINK_DOMAIN"] as? String == "journal.example"
                    && ($0["MESSAGE"] as? String == "the message node refused us" || $0["MESSAGE"] as? String == "plain line")
            }
            let refused = stubLines.first { $0["MESSAGE"] as? String == "the message node refused us" }
            #expect(refused?["PRIORITY"] as? String == "3")
            #expect(refused?["RETHINK_STUB_PID"] as? String == "\(pid)")
            #expect(stubLines.first { $0["MESSAGE"] as? String == "plain line" }?["PRIORITY"] as? String == "6")
        }
    }

    @Test func aCrashAndAPackageRefusalHaveTheirMessageIDs() async throws {
        let journald = try StandaloneJournald()
        defer { journald.stop() }
        let journal = try JournalSocket(path: journald.socketPath)
        let broken: JSONValue = ["objectName": "x", "version": "1", "language": "python", "sourcePackageURL": "missing.py"]
        try await using(TestRuntime(
            descriptors: ["crashy.example": TestRuntime.testing(), "broken.example": broken], journal: journal)) { runtime in
            let client = try await runtime.client()
            _ = try await client.request(
                .execute, to: "hyperty://crashy.example/x", body: ["value": ["action": "crash", "code": 3]])
            _ = try await client.request(.execute, to: "hyperty://broken.example/x", body: ["value": "hi"])
            let crashed = try journald.waitForEntries {
                $0["MESSAGE_ID"] as? String == JournalMessageID.stubCrashed
            }
            #expect(crashed.first?["RETHINK_DOMAIN"] as? String == "crashy.example")
            let refused = try journald.waitForEntries {
                $0["MESSAGE_ID"] as? String == JournalMessageID.packageRefused
            }
            #expect(refused.first?["RETHINK_DOMAIN"] as? String == "broken.example")
            #expect(refused.first?["RETHINK_STATUS"] as? String == "deployment-failed")
        }
    }

    @Test func multiLineAndOneMebibyteEntriesArriveWhole() throws {
        let journald = try StandaloneJournald()
        defer { journald.stop() }
        let logger = handler(try JournalSocket(path: journald.socketPath))
        let big = String(repeating: "0123456789abcdef", count: 65536)
        logger.info("first line\nsecond line", metadata: ["rethink_domain": "multi.example"])
        logger.info("\(big)", metadata: ["rethink_domain": "big.example"])
        let multi = try journald.waitForEntries { $0["RETHINK_DOMAIN"] as? String == "multi.example" }
        #expect(multi.first?["MESSAGE"] as? String == "first line\nsecond line")
        let large = try journald.waitForEntries { $0["RETHINK_DOMAIN"] as? String == "big.example" }
        #expect((large.first?["MESSAGE"] as? String)?.utf8.count == 1 << 20, "sent as a sealed memfd")
    }

    @Test func aStalledJournalDropsStubLinesWithoutBlockingAndReportsHowMany() throws {
        let journald = try StandaloneJournald()
        defer { journald.stop() }
        let dropped = DroppedLineCounter()
        let logger = handler(try JournalSocket(path: journald.socketPath), dropped: dropped)
        let stub = "hyperty-runtime://chatty.example/protostub/1"
        let fields: Logger.Metadata = [
            "rethink_source": "stub", "rethink_stub_url": "\(stub)", "rethink_domain": "chatty.example",
        ]
        journald.pause()
        let start = ContinuousClock.now
        for index in 0..<20_000 {
            logger.info("chatter \(index) \(String(repeating: "x", count: 200))", metadata: fields)
        }
        let elapsed = ContinuousClock.now - start
        journald.resume()
        #expect(elapsed < .seconds(10), "lossy sends never wait for journald")
        #expect(dropped.total > 0, "a stopped journald cannot take 20,000 entries")
        // The stub goes on talking; once journald has room, the count is reported before its next line.
        var report: [[String: Any]] = []
        for _ in 0..<100 where report.isEmpty {
            logger.info("back to normal", metadata: fields)
            Thread.sleep(forTimeInterval: 0.02)
            report = try journald.entries().filter {
                $0["MESSAGE_ID"] as? String == JournalMessageID.stubLogLinesDropped
            }
        }
        let reported = report.compactMap { ($0["RETHINK_DROPPED_LINES"] as? String).flatMap(Int.init) }.reduce(0, +)
        #expect(reported > 0 && reported <= dropped.total)
        #expect(report.first?["RETHINK_STUB_URL"] as? String == stub)
        #expect(report.first?["RETHINK_DOMAIN"] as? String == "chatty.example")
    }

    @Test func withoutAJournalSocketTheHandlerCannotBeOpened() {
        #expect(throws: JournalError.self) { try JournalSocket(path: "/nonexistent/journal/socket") }
    }
}
