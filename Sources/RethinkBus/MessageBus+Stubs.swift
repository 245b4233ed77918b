import NIOCore
import RethinkMessages

extension MessageBus {
    // MARK: Routing to stubs

    /// Step 4 of routing: one stub per domain key, deployed on demand; messages wait in one bounded FIFO
    /// queue until it is `live`.
    func routeToStub(_ message: Message, domain: DomainKey, request: PendingRequest?, sender: BusPort) {
        let route = routes[domain] ?? newRoute(for: domain)
        if let failure = route.failure {
            if failure.until > eventLoop.now || route.status == .dead {
                respond(request, message, to: sender, code: failure.code, desc: failure.desc)
                return
            }
            route.failure = nil
            route.status = .deploying
            delegate?.bus(self, needsStubFor: domain)
        }
        if let url = route.stubURL, message.via.contains(url) {
            respond(
                request, message, to: sender, code: 404, desc: "no route: the message already passed through \(url)")
            return
        }
        request?.target = .stub(domain: domain, url: nil)
        if route.canDeliver, route.queue.isEmpty {
            deliver(message, over: route, request: request, sender: sender)
            return
        }
        // Where a 429 or a 408 in the queue is counted (``deliver`` sets it again once it reaches a stub).
        request?.meters = route.meters
        if route.queue.count >= configuration.queueLimit, route.answeredInQueue * 4 >= route.queue.count {
            compactQueue(of: route)
        }
        guard route.queue.count < configuration.queueLimit else {
            respond(
                request, message, to: sender, code: 429,
                desc: "the queue for \(domain) is full (\(configuration.queueLimit) messages wait for its stub)")
            return
        }
        request?.inStubQueue = true
        route.queue.append(QueuedMessage(message: message, sender: sender))
    }

    private func newRoute(for domain: DomainKey) -> StubRoute {
        let route = StubRoute(domain: domain)
        routes[domain] = route
        delegate?.bus(self, needsStubFor: domain)
        return route
    }

    private func deliver(_ message: Message, over route: StubRoute, request: PendingRequest?, sender: BusPort) {
        guard let port = route.port, let url = route.stubURL else { return }
        request?.target = .stub(domain: route.domain, url: url)
        request?.meters = route.meters
        request?.inStubQueue = false
        route.countToStub()
        write(message, to: port, sender: sender)
    }

    /// Drops the queued requests that already have their final response, so that they no longer take the
    /// places of new ones. Only when a quarter of a full queue is such: the scan costs at most four steps per
    /// place it frees.
    private func compactQueue(of route: StubRoute) {
        var kept = CircularBuffer<QueuedMessage>(initialCapacity: route.queue.count)
        for queued in route.queue where queued.message.id == nil || pendingRequest(of: queued.message) != nil {
            kept.append(queued)
        }
        route.queue = kept
        route.answeredInQueue = 0
    }

    private func pendingRequest(of message: Message) -> PendingRequest? {
        message.id.flatMap { id in message.from.flatMap { pending[PendingKey(address: $0, id: id)] } }
    }

    /// Sends what waits in the queue, in order, once the stub takes traffic. Requests that already got
    /// their final response (408) are not sent.
    func drainQueue(of route: StubRoute) {
        while route.canDeliver, let queued = route.queue.popFirst() {
            let request = pendingRequest(of: queued.message)
            if queued.message.id != nil, request == nil { continue }
            deliver(queued.message, over: route, request: request, sender: queued.sender)
        }
        if route.queue.isEmpty { route.answeredInQueue = 0 }
    }

    /// Answers everything queued for the route with `code`.
    private func failQueue(of route: StubRoute, code: Int, desc: String) {
        while let queued = route.queue.popFirst() {
            let request = pendingRequest(of: queued.message)
            request?.inStubQueue = false
            respond(request, queued.message, to: queued.sender, code: code, desc: desc)
        }
        route.answeredInQueue = 0
    }

    /// Answers every request sent to the stub at `url` and not yet answered.
    func failOutstanding(of url: String, code: Int, desc: String) {
        for request in Array(pending.values) {
            if case .stub(_, let target) = request.target, target == url {
                finish(request, code: code, desc: desc)
            }
        }
    }

    // MARK: Messages from stubs

    /// What a stub of domain key `K` may inject (SPEC section 6, its provenance rule):
    /// - a message `from` an address of `K` or from its own URL (its network's users, or itself);
    /// - an inbound delivery: a message `to` an address of `K`, whatever its `from` (how alice@acme's message
    ///   reaches bob@beta through beta's message node);
    /// - a response, only to a request that was forwarded to this stub, or whose requester is in `K` (the
    ///   return path through the requester's home node).
    /// Never a `from` that is a runtime-local address (client URLs included) or another stub's URL, a
    /// subscribe outside `K` (see above), nor an answer to a request it was never part of.
    /// - Parameter request: for a response, the request it answers, if one waits.
    func acceptFromStub(
        _ message: Message, domain: DomainKey, url: String, port: BusPort, answering request: PendingRequest?
    ) -> Bool {
        // A stub listens only within its own domain key: a subscribe (to the runtime's bus or to any node) for
        // an address outside it would let it answer another domain's requests.
        if message.type == .subscribe, let outside = subscribedAddresses(message).first(where: {
            !($0 == url || isBelow($0, url) || DomainKey(address: $0) == domain)
        }) {
            violation(by: port, domain: domain, url: url, reason: "subscribe to \(outside), outside \(domain)")
            return false
        }
        guard let from = message.from else {
            violation(by: port, domain: domain, url: url, reason: "message without a from address")
            return false
        }
        let own = from == url || isBelow(from, url)
        if !own {
            if addresses.isRuntimeLocal(from) {
                violation(by: port, domain: domain, url: url, reason: "message from the runtime's address \(from)")
                return false
            }
            if RuntimeAddresses.isStubAddress(from) {
                violation(by: port, domain: domain, url: url, reason: "message from another stub's address \(from)")
                return false
            }
        }
        if message.type == .response {
            guard let id = message.id, let request else {
                // Nothing waits for it: dropped (and logged) by the response path; not a forgery in itself.
                return true
            }
            if case .stub(_, let target) = request.target, target == url { return true }
            if DomainKey(address: request.key.address) == domain { return true }
            violation(
                by: port, domain: domain, url: url,
                reason: "answer to \(message.to)'s request \(id), which was never routed through it")
            return false
        }
        if own || DomainKey(address: from) == domain || DomainKey(address: message.to) == domain {
            routeOf(port)?.countFromStub()
            return true
        }
        violation(
            by: port, domain: domain, url: url,
            reason: "message from \(from) to \(message.to), neither in \(domain)")
        return false
    }

    /// A stub's answer to `to`'s request `id` was over the message size limit and dropped: the requester gets
    /// 502 at once instead of a 408 at the response timeout. Only where the answer itself would have been
    /// taken (``isExpectedResponder(_:of:)``, as for any response); anything else is ignored.
    public func stubAnswerTooLarge(from port: BusPort, to address: String, id: MessageID, limit: Int) {
        guard case .stub(_, let url) = port.kind, let request = pending[PendingKey(address: address, id: id)],
            isExpectedResponder(port, of: request)
        else { return }
        finish(request, code: 502, desc: "\(url)'s answer was over the \(limit)-byte message limit and was dropped")
        flush()
    }

    /// The addresses of a subscribe's `body.subscribe` (a string or a list); an unreadable entry counts as
    /// outside every domain.
    private func subscribedAddresses(_ message: Message) -> [String] {
        guard let list = message.body?["subscribe"] else { return [] }
        if let single = list.stringValue { return [single] }
        return (list.arrayValue ?? [list]).map { $0.stringValue ?? "" }
    }

    /// Whether `address` is `base/...`, without building `base + "/"`.
    private func isBelow(_ address: String, _ base: String) -> Bool {
        address.hasPrefix(base) && address.utf8.dropFirst(base.utf8.count).first == UInt8(ascii: "/")
    }

    /// A stub broke a bus rule found outside this file's checks: counted like the others.
    func stubViolation(_ port: BusPort, domain: DomainKey, url: String, reason: String) {
        violation(by: port, domain: domain, url: url, reason: reason)
    }

    private func violation(by port: BusPort, domain: DomainKey, url: String, reason: String) {
        logger.warning(
            "stub \(url) violation: \(reason); dropped",
            metadata: StubMetadata.of(url: url, domain: domain))
        metrics.meters(for: domain).violations.increment()
        guard let route = routeOf(port) else { return }
        let now = eventLoop.now
        route.violations = route.violations.filter { $0 + configuration.violationWindow > now } + [now]
        if route.violations.count > configuration.violationLimit {
            route.violations.removeAll()
            delegate?.bus(self, stubExceededViolations: url, of: domain)
        }
    }

    /// An `update` to `<stubURL>/status`: consumed here, never routed; accepted only from that stub.
    func statusUpdate(_ message: Message, for stubURL: String, from sender: BusPort) {
        guard case .stub(let domain, let url) = sender.kind, url == stubURL else {
            if case .stub(let domain, let url) = sender.kind {
                violation(by: sender, domain: domain, url: url, reason: "status update for another stub, \(stubURL)")
            } else {
                answer(message, to: sender, code: 403, desc: "only the stub \(stubURL) may report its own status")
            }
            return
        }
        guard let value = message.bodyValue?.stringValue, let status = StubStatus(reported: value),
            status.isReportableByStub
        else {
            logger.warning(
                "stub \(url) reported an unknown status",
                metadata: StubMetadata.of(url: url).merging(["value": "\(message.bodyValue?.jsonString ?? "none")"]) { $1 })
            answer(
                message, to: sender, code: 400,
                desc: "status must be one of created, in-progress, live, failed, disconnected")
            return
        }
        if message.id != nil { answer(message, to: sender, code: 200, desc: "status \(status.rawValue) applied") }
        if let body = message.body, let route = routes[domain], route.port === sender {
            // Only addresses of the stub's own domain: a stub cannot make another domain's addresses its own.
            func own(_ key: String) -> [String]? {
                body[key]?.arrayValue?.compactMap(\.stringValue).filter { DomainKey(address: $0) == domain }
            }
            if let declared = own("multiParty") { route.multiParty = declared }
            if let declared = own("echoed") { route.echoed = declared }
        }
        let desc = message.desc  // decoded from the line each time it is read
        setStatus(status, of: domain, stub: url, desc: desc)
        delegate?.bus(self, stub: url, of: domain, reported: status, desc: desc)
    }

    // MARK: Stub lifecycle, driven by the Runtime UA

    /// A new stub process for `domain` is attached and waits for its handshake.
    /// `idleTimeout`: the descriptor's idle time, if it sets one.
    public func stubAttached(_ port: BusPort, domain: DomainKey, url: String, idleTimeout: TimeAmount? = nil) {
        let route = existingOrNewRoute(for: domain)
        route.idleTimeout = idleTimeout
        route.multiParty = []
        route.echoed = []
        watchAgain(route)
        if let old = route.port, old !== port { detach(old) }
        route.port = port
        route.stubURL = url
        if route.meters == nil { route.meters = metrics.meters(for: domain) }
        route.failure = nil
        route.status = .deploying
        attach(port)
    }

    /// Applies a status to the domain's route: opens it when the stub takes traffic, answers what waits when
    /// it will not. Stale reports (from a stub already replaced) are ignored. `failure`: why a
    /// `deploymentFailed` happened; what waits is answered by its code (404 when nobody publishes the domain).
    public func setStatus(
        _ status: StubStatus, of domain: DomainKey, stub url: String?, desc: String?,
        failure: DeploymentFailure? = nil
    ) {
        guard let route = routes[domain] else { return }
        if let url, route.stubURL != nil, route.stubURL != url { return }
        route.status = status
        let stubName = url ?? "the stub of \(domain)"
        switch status {
        case .live, .disconnected:
            drainQueue(of: route)
        case .failed:
            let reason = "\(stubName) failed" + (desc.map { ": \($0)" } ?? "")
            failQueue(of: route, code: 502, desc: reason)
        case .deploymentFailed:
            let reason = desc ?? failure?.message ?? "deployment failed"
            let code = failure?.answerCode ?? 502
            let until = eventLoop.now + configuration.failureMemory
            route.failure = (code, "\(stubName): \(reason)", until)
            failQueue(of: route, code: code, desc: "\(stubName): \(reason)")
            failOutstanding(of: url ?? "", code: 502, desc: "\(stubName): \(reason)")
            if let port = route.port { detach(port) }
            route.port = nil
            // A domain that never had a stub (an unknown one, a refused package) is forgotten once its failure
            // is: a client naming thousands of domains cannot grow the daemon for ever.
            if route.stubURL == nil {
                eventLoop.scheduleTask(deadline: until) { [weak self] in self?.forgetFailedRoute(of: domain) }
            }
        case .dead:
            let reason =
                "\(domain)'s stub is dead after repeated crashes; an operator can redeploy it (rethinkctl deploy \(domain))"
            route.failure = (503, reason, .distantFuture)
            failQueue(of: route, code: 503, desc: reason)
            route.port = nil
        case .deploying, .deployed, .created, .inProgress, .undeployed:
            break
        }
        flush()
    }

    /// Drops `domain`'s route if it still only remembers an expired failure (no stub, nothing waiting).
    private func forgetFailedRoute(of domain: DomainKey) {
        guard let route = routes[domain], route.stubURL == nil, route.port == nil, route.queue.isEmpty,
            route.status == .deploymentFailed, let failure = route.failure, failure.until <= eventLoop.now
        else { return }
        routes[domain] = nil
    }

    /// The stub's process is gone without being asked to: what it had not answered gets 502; what comes
    /// next waits in the queue for the redeployed stub.
    public func stubProcessGone(domain: DomainKey, url: String, reason: String) {
        failOutstanding(of: url, code: 502, desc: "stub \(url) \(reason) with the request outstanding")
        metrics.meters(for: domain).crashes.increment()
        if let route = routes[domain], route.stubURL == url {
            if let port = route.port { detach(port) }
            route.port = nil
            if route.status != .dead, route.status != .deploymentFailed { route.status = .disconnected }
        }
        flush()
    }

    /// Removes the domain's route (undeploy): what waits and what is outstanding get `code`.
    public func removeRoute(for domain: DomainKey, code: Int, desc: String) {
        guard let route = routes.removeValue(forKey: domain) else { return }
        failQueue(of: route, code: code, desc: desc)
        if let url = route.stubURL { failOutstanding(of: url, code: code, desc: desc) }
        if let port = route.port { detach(port) }
        flush()
    }

    /// Forgets a `dead` or failed route so the next message (or an operator) deploys afresh.
    public func resetRoute(for domain: DomainKey) {
        guard let route = routes[domain] else { return }
        route.failure = nil
        route.status = .deploying
    }

    /// A stub's pipe drained below its low watermark: send what waited meanwhile.
    public func writabilityChanged(_ port: BusPort, isWritable: Bool) {
        port.isWritable = isWritable
        guard isWritable, let route = routeOf(port) else { return }
        drainQueue(of: route)
    }

    public func counters(for domain: DomainKey) -> StubCounters? {
        guard let route = routes[domain] else { return nil }
        return StubCounters(toStub: route.messagesToStub, fromStub: route.messagesFromStub, queued: route.queue.count)
    }
}
