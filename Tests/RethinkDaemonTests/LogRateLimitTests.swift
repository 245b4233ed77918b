import Foundation
import NIOCore
import RethinkBus
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A stub (or a client) cannot turn the daemon's log against its disk: past a burst per window its lines are
/// counted, not written, and the count is logged when the window is over.
@Suite(.timeLimit(.minutes(2)))
struct LogRateLimitTests {
    @Test func aWindowAdmitsItsBurstThenCountsAndReportsOnceItIsOver() {
        var rate = LogRateLimit(burst: 3, interval: .seconds(1))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let first = (0..<5).map { rate.admit(at: start + .milliseconds(Int64($0))) }
        #expect(first.map(\.write) == [true, true, true, false, false])
        #expect(first.allSatisfy { $0.suppressedBefore == nil })
        let next = rate.admit(at: start + .milliseconds(1001))
        #expect(next.write && next.suppressedBefore == 2, "the next window reports what the last one suppressed")
        _ = rate.admit(at: start + .milliseconds(1002))
        _ = rate.admit(at: start + .milliseconds(1003))
        _ = rate.admit(at: start + .milliseconds(1004))
        #expect(rate.takeSuppressed() == 1)
    }

    @Test func aStubsStderrFloodIsCutToItsBurstAndTheRestCounted() async throws {
        try await using(TestRuntime(descriptors: ["loud.example": TestRuntime.testing()]) {
            $0.stubLogBurst = 50
            $0.stubLogIntervalSeconds = 1
        }) { runtime in
            let client = try await runtime.client()
            let lines: [JSONValue] = (0..<2000).map { .string("flood line \($0)") }
            let answer = try await client.request(
                .execute, to: "hyperty://loud.example/x", body: ["value": ["action": "log", "lines": .array(lines)]])
            #expect(answer.code == 200)
            // Undeploying the stub closes its stderr: what the window still held back is reported then (the report
            // at a window's end is the unit test's above).
            let undeployed = try await client.request(
                .delete, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "loud.example"]])
            #expect(undeployed.code == 200, "\(undeployed.desc ?? "")")
            func reported() -> Int {
                runtime.logs.all.filter { $0.message.contains("line(s) suppressed") && $0.metadata["rethink_domain"] == "loud.example" }
                    .compactMap { Int($0.metadata["rethink_suppressed"] ?? "") }.reduce(0, +)
            }
            func writtenLines() -> Int { runtime.logs.all.filter { $0.message.hasPrefix("flood line") }.count }
            let deadline = Date().addingTimeInterval(10)
            while writtenLines() + reported() < 2000, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            let written = writtenLines()
            // 50 a window: the flood may straddle two windows on a slow host, never more than a few.
            #expect(written > 0 && written <= 150, "\(written) flood lines written")
            #expect(written + reported() >= 2000, "every flood line written or counted: \(written) + \(reported())")
        }
    }
}
