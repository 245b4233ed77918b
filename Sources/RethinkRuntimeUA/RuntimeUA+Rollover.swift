import Logging
import NIOCore
import RethinkCatalogue
import RethinkMessages
import RethinkRegistry

extension RuntimeUA {
    // MARK: Live upgrade (SPEC section 7: "a newer version is picked up without restarting the daemon")

    /// Starts the periodic version check of live network stubs (reTHINK's `<descriptorURL>/version`).
    public func startVersionChecks(every interval: TimeAmount) {
        guard network != nil, interval > .zero, versionChecks == nil else { return }
        versionChecks = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .nanoseconds(interval.nanoseconds))
                guard let self, !Task.isCancelled else { return }
                await self.checkVersions()
            }
        }
    }

    func stopVersionChecks() {
        versionChecks?.cancel()
        versionChecks = nil
    }

    /// Stops a successor still coming up and the stubs still draining (undeploy, shutdown).
    func stopRolloverStubs(of domain: DomainKey, desc: String) async {
        guard let stubs = domains[domain] else { return }
        let rollover = ([stubs.successor].compactMap { $0 } + stubs.leaving.values).filter { !$0.isStopping }
        for instance in rollover.compactMap(\.instance) {
            await stop(instance, code: 503, desc: desc, keepRoute: true)
        }
        if let successor = domains[domain]?.successor, successor.instance == nil {
            change(domain) { $0.remove(successor.url) }
        }
    }

    /// Asks each domain whose live stub came from the network whether it publishes a newer version, and
    /// rolls those over, concurrently.
    func checkVersions() async {
        guard let network, !shuttingDown else { return }
        var due: [(DomainKey, String?)] = []
        for (domain, stubs) in domains where stubs.usable != nil && stubs.successor == nil && stubs.deployment == nil {
            guard let record = await registry.record(for: domain), record.status == .live else { continue }
            due.append((domain, record.version))
        }
        await withTaskGroup(of: Void.self) { group in
            for (domain, version) in due {
                group.addTask {
                    guard let descriptor = await network.newerDescriptor(of: domain, running: version) else { return }
                    await self.rollOver(domain, to: descriptor)
                }
            }
        }
    }

    /// Replaces `domain`'s stub by `descriptor`'s newer version without losing a request: the new stub is
    /// deployed beside the old one; once it reports `live`, new traffic (and anything queued) goes to it; the
    /// old one keeps answering what it already has, then is undeployed. If the new version does not come up,
    /// it is stopped and the old one serves on.
    func rollOver(_ domain: DomainKey, to descriptor: Descriptor) async {
        guard !shuttingDown, let stubs = domains[domain], let old = stubs.usable, stubs.successor == nil,
            stubs.deployment == nil, let previous = await registry.record(for: domain)
        else { return }
        let metadata = StubMetadata.of(domain: domain)
        logger.notice(
            "\(domain) publishes version \(descriptor.version ?? "?") (running \(previous.version ?? "?")): rolling over",
            metadata: metadata)
        let identity: JSONValue?
        do {
            identity = try identities.identity(for: domain)
        } catch {
            logger.error("rollover of \(domain) not started: \(error.message)", metadata: metadata)
            return
        }
        let url = await registry.allocate(
            domain: domain, version: descriptor.version, interworking: descriptor.interworking)
        var successor: StubInstance?
        do {
            let started = try await launch(descriptor, identity: identity, domain: domain, url: url, successor: true) {
                successor = $0
            }
            try await waitUntilLive(url, of: domain)
            let promoted = change(domain) { stubs -> Bool in
                guard let next = stubs.successor, next.url == url, stubs.current == nil || stubs.current?.url == old.url
                else { return false }
                if let replaced = stubs.current { stubs.leaving[replaced.url] = replaced }
                stubs.current = next
                stubs.successor = nil
                return true
            }
            guard promoted else { throw DeploymentFailure(.spawn, "the domain's stub changed meanwhile") }
            await onLoop { $0.promote(started.port, domain: domain, url: url, status: .live) }
            logger.notice(
                "\(domain): new traffic goes to \(url) (version \(descriptor.version ?? "?")); \(old.url) drains",
                metadata: metadata)
        } catch {
            let reason = "rollover of \(domain) to version \(descriptor.version ?? "?") failed: \(error.message)"
            logger.error("\(reason); \(old.url) serves on", metadata: metadata)
            await registry.apply(
                .deploymentFailed, to: url, desc: error.message, reason: (error as? DeploymentFailure)?.reason)
            if let successor {
                await stop(successor, code: 502, desc: reason, sendDelete: false, keepRoute: true)
            } else {
                change(domain) { $0.remove(url) }
            }
            await registry.reinstate(previous, replacedBy: url)
            // The old stub crashed meanwhile (its record is back, so nobody undeployed the domain): start afresh.
            if domains[domain]?.current == nil, await registry.record(for: domain)?.url == previous.url {
                _ = await deploy(domain)
            }
            return
        }
        await drainAndRetire(old)
    }

    /// Waits for the Registry's status change (the stub's reports, in order) that makes the stub at `url`
    /// `live`; fails when it reports `failed` (and the like), is replaced, or takes longer than three handshake
    /// timeouts.
    private func waitUntilLive(_ url: String, of domain: DomainKey) async throws {
        let limit = configuration.handshakeTimeout.nanoseconds * 3
        let outcome = await registry.waitForStatus(
            of: url, in: [.live, .failed, .deploymentFailed, .dead, .disconnected], timeout: .nanoseconds(limit))
        guard let record = outcome else {
            let replaced = await registry.record(for: domain)?.url != url
            throw DeploymentFailure(
                .handshake,
                replaced ? "the new stub was replaced" : "the new stub was not live within \(limit / 1_000_000) ms")
        }
        guard record.status == .live else {
            throw DeploymentFailure(
                .handshake, "the new stub reported \(record.status.rawValue)" + (record.desc.map { ": \($0)" } ?? ""))
        }
    }

    /// Lets the replaced stub answer what it already has (up to the response timeout), then undeploys it.
    private func drainAndRetire(_ old: StubInstance) async {
        let bus = self.bus
        let deadline = NIODeadline.now() + bus.configuration.responseTimeout + .seconds(1)
        let drained = try? await bus.eventLoop.submit { bus.whenDrained(of: old.url, deadline: deadline) }.get()
        try? await drained?.get()
        await stop(
            old, code: 502, desc: "stub \(old.url) was replaced by a newer version before it answered",
            keepRoute: true)
        logger.info("stub \(old.url) retired after the rollover", metadata: StubMetadata.of(url: old.url, domain: old.domain))
    }
}
