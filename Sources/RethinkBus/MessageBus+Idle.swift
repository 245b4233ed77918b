import NIOCore
import RethinkMessages

extension MessageBus {
    // MARK: Idle stubs

    /// Once a second: a `live` stub that has carried no message for its idle time, has nothing queued and no
    /// client listening on an address of its domain (a subscription it serves) is reported to the Runtime UA,
    /// once. No cost on the data path: the sweep compares the route's message counters with the last sweep's.
    /// A stub that still owes an answer is kept (``takeIdleStub(_:of:)`` checks).
    func sweepIdleStubs() {
        let now = eventLoop.now
        var interested: Set<DomainKey>?
        for route in routes.values {
            guard let url = route.stubURL, route.port != nil, route.status == .live, !route.idleReported,
                let timeout = idleTimeout(of: route)
            else { continue }
            if interested == nil { interested = domainsWithListeners() }
            guard isQuiet(route, interested: interested ?? []) else {
                watchAgain(route)
                continue
            }
            if now - route.quietSince >= timeout {
                route.idleReported = true
                delegate?.bus(self, stubIdle: url, of: route.domain)
            }
        }
    }

    /// No message since the last look, nothing queued, and no client listening in its domain.
    private func isQuiet(_ route: StubRoute, interested: Set<DomainKey>) -> Bool {
        route.activity == route.lastActivity && route.queue.isEmpty && !interested.contains(route.domain)
    }

    /// Starts the route's quiet time again from now (a new stub, new traffic, a stub kept).
    func watchAgain(_ route: StubRoute) {
        route.idleReported = false
        route.lastActivity = route.activity
        route.quietSince = eventLoop.now
    }

    /// The route's idle time: its descriptor's, else the bus's; nil when it never idles.
    private func idleTimeout(of route: StubRoute) -> TimeAmount? {
        let timeout = route.idleTimeout ?? configuration.idleTimeout
        return timeout > .zero ? timeout : nil
    }

    /// Domains some client listens in (a client's address there, or a remote subscription the stub serves).
    private func domainsWithListeners() -> Set<DomainKey> {
        var domains: Set<DomainKey> = []
        for (address, ports) in listeners where ports.contains(where: { if case .client = $0.kind { true } else { false } }) {
            if let domain = DomainKey(address: address) { domains.insert(domain) }
        }
        return domains
    }

    /// The Runtime UA takes an idle stub away: true when it is still idle, and then its route is gone, so that
    /// the next message for the domain deploys a new stub (and waits in a new queue) instead of reaching this
    /// one while it stops. False when traffic came meanwhile: it stays, and is watched again.
    public func takeIdleStub(_ url: String, of domain: DomainKey) -> Bool {
        guard let route = routes[domain], route.stubURL == url, route.idleReported else { return false }
        // What it owes (answers), or is owed (answers to its own requests), keeps it.
        let owes = outstandingRequests(of: url) > 0 || pending.values.contains { $0.requester === route.port }
        guard isQuiet(route, interested: domainsWithListeners()), !owes else {
            watchAgain(route)
            return false
        }
        routes[domain] = nil
        // Its addresses go now; the port stays attached until the Runtime UA has sent it its undeploy message.
        if let port = route.port {
            for address in port.listening { removeListener(port, from: address) }
            port.listening.removeAll()
        }
        return true
    }

    /// The Runtime UA keeps an idle stub after all (it is being upgraded, or stopped already): watched again.
    public func idleStubKept(_ url: String, of domain: DomainKey) {
        guard let route = routes[domain], route.stubURL == url else { return }
        watchAgain(route)
    }
}
