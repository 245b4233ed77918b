import Logging
import Testing

@testable import RethinkMessages
@testable import RethinkRegistry

/// The deploy breakdown (issue 13): the UA's phases and the Registry's `live` meet in either order.
struct DeployTimingsTests {
    let domain = DomainKey("acme.example")!

    static var phases: DeployTimings {
        var phases = DeployTimings()
        phases.catalogue = .microseconds(100)
        phases.package = .microseconds(200)
        phases.spawn = .milliseconds(3)
        phases.attach = .microseconds(50)
        phases.handshake = .microseconds(1500)
        return phases
    }

    @Test func liveAfterThePhasesAreHandedOverTimesTheStatuses() async throws {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        let answeredAt = ContinuousClock.now
        await registry.setDeployPhases(Self.phases, answeredAt: answeredAt, of: url)
        #expect(await registry.record(for: domain)?.deployTimings.statuses == nil, "not live yet")
        try await Task.sleep(for: .milliseconds(20))
        await registry.apply(.live, to: url, reason: .reported)
        let timings = try #require(await registry.record(for: domain)?.deployTimings)
        #expect(timings.spawn == .milliseconds(3))
        let statuses = try #require(timings.statuses)
        #expect(statuses >= .milliseconds(20) && statuses < .seconds(5))
        #expect(timings.json["spawn"] == .double(3) && timings.json["handshake"] == .double(1.5))
    }

    @Test func liveBeforeThePhasesAreHandedOverCountsAsNoWait() async throws {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.apply(.live, to: url, reason: .reported)
        await registry.setDeployPhases(Self.phases, answeredAt: .now, of: url)
        let timings = try #require(await registry.record(for: domain)?.deployTimings)
        #expect(timings.statuses == .zero)
        #expect(timings.catalogue == .microseconds(100))
    }

    @Test func aLaterLiveReportDoesNotMoveTheFirst() async throws {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let url = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.setDeployPhases(Self.phases, answeredAt: .now, of: url)
        await registry.apply(.live, to: url, reason: .reported)
        let first = try #require(await registry.record(for: domain)?.deployTimings.statuses)
        try await Task.sleep(for: .milliseconds(30))
        await registry.apply(.disconnected, to: url, reason: .reported)
        await registry.apply(.live, to: url, reason: .reported)
        #expect(await registry.record(for: domain)?.deployTimings.statuses == first)
    }

    @Test func aReplacedStubsPhasesDoNotLandOnItsSuccessor() async throws {
        let registry = Registry(logger: Logger(label: "test"), broadcast: { _ in })
        let old = await registry.allocate(domain: domain, version: nil, interworking: false)
        _ = await registry.allocate(domain: domain, version: nil, interworking: false)
        await registry.setDeployPhases(Self.phases, answeredAt: .now, of: old)
        #expect(await registry.record(for: domain)?.deployTimings == DeployTimings())
    }
}
