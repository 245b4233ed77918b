import Foundation
import Logging
import Synchronization
import Testing

@testable import RethinkMessages
@testable import RethinkRegistry

final class Broadcasts: Sendable {
    let changes = Mutex<[StatusChange]>([])
    func append(_ change: StatusChange) { changes.withLock { $0.append(change) } }
    var all: [StatusChange] { changes.withLock { $0 } }
}

final class FakeClock: Sendable {
    let time = Mutex(Date(timeIntervalSince1970: 1_000_000))
    func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var now: Date { time.withLock { $0 } }
}

struct RegistryTests {
    let domain = DomainKey("acme.example")!

    @Test func stubURLsAreUniqueForTheRuntimesLifetime() async {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let first = await registry.allocate(domain: domain, version: "1", interworking: false)
        await registry.remove(domain: domain)
        let second = await registry.allocate(domain: domain, version: "1", interworking: false)
        #expect(first == "hyperty-runtime://acme.example/protostub/1")
        #expect(second == "hyperty-runtime://acme.example/protostub/2")
    }

    @Test func everyChangeCarriesItsReasonAndAnUndeployIsBroadcast() async {
        let broadcasts = Broadcasts()
        let registry = Registry(logger: Logger(label: "test"), broadcast: { broadcasts.append($0) })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.apply(.deployed, to: url)
        await registry.apply(.live, to: url, reason: .reported)
        await registry.apply(.disconnected, to: url, desc: "the stub was killed", reason: .crashed)
        #expect(await registry.record(for: domain)?.reason == .crashed)
        await registry.remove(domain: domain, reason: .idle, desc: "no traffic")
        #expect(broadcasts.all.map(\.status) == [.deploying, .deployed, .live, .disconnected, .undeployed])
        #expect(broadcasts.all.map(\.reason) == [.requested, nil, .reported, .crashed, .idle])
        #expect(broadcasts.all.allSatisfy { $0.expected }, "an undeploy may follow any status")
        let message = broadcasts.all[4].message(addresses: RuntimeAddresses(runtimeDomain: "localhost", runtimeID: "x"))
        #expect(message.body?["value"]?.stringValue == "undeployed")
        #expect(message.body?["reason"]?.stringValue == "idle")
        #expect(await registry.record(for: domain) == nil)
        await registry.remove(domain: domain)
        #expect(broadcasts.all.count == 5, "removing what is not there broadcasts nothing")
    }

    @Test func statusChangesAreBroadcastInOrderAndOddTransitionsFlagged() async {
        let broadcasts = Broadcasts()
        let registry = Registry(logger: Logger(label: "test"), broadcast: { broadcasts.append($0) })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.apply(.deployed, to: url)
        await registry.apply(.live, to: url)
        await registry.apply(.deploymentFailed, to: url, desc: "odd")
        #expect(broadcasts.all.map(\.status) == [.deploying, .deployed, .live, .deploymentFailed])
        #expect(broadcasts.all.map(\.expected) == [true, true, true, false])
        #expect(await registry.record(for: domain)?.status == .deploymentFailed)
    }

    @Test func statusOfAReplacedStubIsIgnored() async {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let old = await registry.allocate(domain: domain, version: nil, interworking: false)
        _ = await registry.allocate(domain: domain, version: nil, interworking: false)
        #expect(await registry.apply(.live, to: old) == nil)
    }

    @Test func aDeadStubsLateReportIsDropped() async {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.apply(.deployed, to: url)
        await registry.apply(.dead, to: url, desc: "gave up")
        // Its "live", read from its stdout after its exit was seen.
        #expect(await registry.apply(.live, to: url) == nil)
        #expect(await registry.record(for: domain)?.status == .dead)
    }

    @Test func fiveCrashesWithinAMinuteGiveUpAndOldCrashesAreForgotten() async {
        let clock = FakeClock()
        let registry = Registry(logger: Logger(label: "test"), now: { clock.now }, broadcast: { _ in })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        var decisions: [CrashDecision] = []
        for _ in 0..<4 {
            decisions.append(await registry.recordCrash(of: url, jitter: 1))
            clock.advance(5)
        }
        #expect(decisions == [.retry(after: 0.2), .retry(after: 0.4), .retry(after: 0.8), .retry(after: 1.6)])
        #expect(await registry.recordCrash(of: url, jitter: 1) == .giveUp)
        clock.advance(61)
        #expect(await registry.recordCrash(of: url, jitter: 1) == .retry(after: 0.2))
    }

    @Test func firstRetryComesWithinASecondWhateverTheJitter() {
        for jitter in stride(from: 0.0, through: 1.0, by: 0.25) {
            guard case .retry(let delay) = CrashPolicy.default.decision(crashesInWindow: 1, jitter: jitter) else {
                Issue.record("gave up on the first crash")
                return
            }
            #expect(delay > 0 && delay < 1)
        }
    }

    @Test func reTHINKStateMachineAllowsTheUsualPath() {
        let path: [StubStatus] = [.deploying, .deployed, .created, .inProgress, .live, .disconnected, .live]
        var current: StubStatus? = nil
        for next in path {
            #expect(StatusMachine.allows(from: current, to: next), "\(String(describing: current)) -> \(next)")
            current = next
        }
        #expect(!StatusMachine.allows(from: .dead, to: .live))
    }
}
