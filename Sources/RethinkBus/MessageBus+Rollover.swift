import NIOCore
import RethinkMessages

extension MessageBus {
    // MARK: Live upgrade: a domain's stub replaced by a newer version without losing a request

    /// A successor stub is attached beside the domain's current one: it can talk to the bus (handshake,
    /// statuses) but gets no traffic until `promote` makes it the route's stub.
    public func successorAttached(_ port: BusPort) {
        attach(port)
    }

    /// New traffic for `domain` goes to the successor from now on, and what waits in the queue is sent to it.
    /// The previous stub stays attached so that the requests it already has can still be answered.
    public func promote(_ port: BusPort, domain: DomainKey, url: String, status: StubStatus) {
        let route = existingOrNewRoute(for: domain)
        route.port = port
        route.stubURL = url
        route.status = status
        route.failure = nil
        route.violations.removeAll()
        drainQueue(of: route)
        flush()
    }

    /// The domain's route, made (without asking for a deploy) when it has none.
    func existingOrNewRoute(for domain: DomainKey) -> StubRoute {
        if let route = routes[domain] { return route }
        let route = StubRoute(domain: domain)
        routes[domain] = route
        return route
    }

    /// How many requests sent to the stub at `url` still wait for its final response.
    public func outstandingRequests(of url: String) -> Int {
        pending.values.reduce(0) { count, request in
            if case .stub(_, let target) = request.target, target == url { return count + 1 }
            return count
        }
    }

    /// Detaches a stub that is not (or no longer) its route's stub; what it still owes gets `code`. The
    /// domain's route is left as it is.
    public func retire(_ port: BusPort, url: String, code: Int, desc: String) {
        failOutstanding(of: url, code: code, desc: desc)
        detach(port)
    }
}
