import RethinkCatalogue
import RethinkMessages
import RethinkRegistry

extension RuntimeUA {
    /// An operator's `create` to `<runtimeURL>/ua`: deploys now; a `dead` stub gets a fresh start.
    public func operatorDeploy(_ domain: DomainKey) async -> Result<String, DeploymentFailure> {
        if let instance = domains[domain]?.usable { return .success(instance.url) }
        await registry.forgiveCrashes(of: domain)
        await onLoop { $0.resetRoute(for: domain) }
        return await deploy(domain)
    }

    /// An operator's `delete` to `<runtimeURL>/ua`: stops the domain's stub; its queued and outstanding
    /// requests get 503. Returns false when the domain had no stub.
    public func undeploy(
        _ domain: DomainKey, reason: String = "undeployed by an operator", why: StatusReason = .operator
    ) async -> Bool {
        let record = await registry.record(for: domain)
        await stopRolloverStubs(of: domain, desc: "\(domain)'s stub was \(reason)")
        guard let instance = domains[domain]?.usable else {
            await onLoop { $0.removeRoute(for: domain, code: 503, desc: "\(domain)'s stub was \(reason)") }
            await registry.remove(domain: domain, reason: why, desc: reason)
            return record != nil
        }
        await stop(instance, code: 503, desc: "\(domain)'s stub was \(reason)")
        await registry.remove(domain: domain, reason: why, desc: reason)
        return true
    }

    /// An idle stub (no traffic, no listener interest for its idle time) is undeployed; the next message for
    /// its domain deploys it again. The bus takes its route away first, in one step on the loop, so a message
    /// that arrives meanwhile waits for the new stub instead of reaching this one as it stops.
    func retireIdle(_ url: String, of domain: DomainKey) async {
        let bus = self.bus
        guard let stubs = domains[domain], stubs.current?.isServing == true, let instance = stubs.usable,
            instance.url == url, stubs.deployment == nil, stubs.successor == nil, !shuttingDown
        else {
            await onLoop { $0.idleStubKept(url, of: domain) }
            return
        }
        let taken = (try? await bus.eventLoop.submit { bus.takeIdleStub(url, of: domain) }.get()) ?? false
        guard taken else { return }
        _ = change(domain) { $0.leave(url) }
        let idle = bus.configuration.idleTimeout
        logger.info(
            "stub \(url) undeployed: idle (no traffic and no listener for \(idle.nanoseconds / 1_000_000_000) s or its descriptor's idleSeconds); the next message deploys it again",
            metadata: StubMetadata.of(url: url, domain: domain, status: "undeployed", reason: .idle))
        await registry.remove(domain: domain, reason: .idle, desc: "no traffic and no listener for its idle time")
        Task { await self.stop(instance, code: 503, desc: "\(domain)'s stub was undeployed: idle", keepRoute: true) }
    }

    /// Stops every stub (daemon shutdown), concurrently.
    public func shutdown() async {
        markShuttingDown()
        stopVersionChecks()
        // A deploy under way (a first contact, a redeploy after a crash) finishes first and is stopped with the
        // rest: stopped under it, the daemon's event loop would be gone while it attaches the stub's pipes.
        for task in domains.values.compactMap(\.deployment) { _ = await task.value }
        let all = Array(domains.keys)
        await withTaskGroup(of: Void.self) { group in
            for domain in all {
                group.addTask { _ = await self.undeploy(domain, reason: "stopped: the runtime is shutting down", why: .shutdown) }
            }
        }
    }

    /// PIDs of the running stubs.
    public func runningStubs() -> [DomainKey: Int32] {
        domains.compactMapValues { $0.usable?.process.pid }
    }
}
