import Logging
import NIOCore
import RethinkMessages

/// The MessageBUS: delivers each message by its `to` address (SPEC section 3) and makes sure every
/// request that enters the runtime gets exactly one final response (SPEC section 2).
///
/// Confined to one event loop: client connections, stub pipes and runtime components all live on it, so
/// routing needs no locks and no hops. Every method must be called on `eventLoop`.
public final class MessageBus: @unchecked Sendable {
    public let eventLoop: EventLoop
    public let addresses: RuntimeAddresses
    public private(set) var configuration: BusConfiguration
    public weak var delegate: BusDelegate?
    let logger: Logger
    public let metrics: BusMetrics
    /// Operators watching the traffic (`rethinkctl monitor`); empty, the tap costs one check per delivery.
    var watchers: [BusWatcher] = []
    /// Shutdown and retirement waiting for answers (``whenDrained(of:deadline:)``).
    var drainWaiters: [DrainWaiter] = []

    var listeners: [String: [BusPort]] = [:]
    var pending: [PendingKey: PendingRequest] = [:]
    private var timeouts = TimeoutQueue()
    var routes: [DomainKey: StubRoute] = [:]
    /// How many domains the bus keeps a route for (on the bus's loop): stubs, and failures still remembered.
    public var routeCount: Int { routes.count }
    private var toFlush: [BusPort] = []
    private var flushScheduled = false
    private var lastDestination: (address: String, key: DomainKey)?
    private var sweeper: RepeatedTask?
    private var idleSweeper: RepeatedTask?
    /// After `stop()`: a request still arriving (a stub's, during shutdown) is answered 503 at once, untracked.
    public private(set) var isStopped = false
    /// Requests waiting for their final response (on the loop): a shutdown drains them before it stops stubs.
    public var pendingCount: Int { pending.count }
    /// How many bytes for one port the bus gathers in a batch before it writes them out without waiting for the
    /// batch's end. With a second CPU the peer (a stub, a client) works on the first lines while the bus routes
    /// the rest: 64 requests in flight went from 150-166k to 240k round trips/s on two cores. On one CPU that
    /// only adds context switches (one CPU's round trip cost 4.4 → 5.5 µs), so the bus then waits for the end
    /// of the batch (Int.max). The affinity is read once, when the bus is made.
    public let eagerFlushBytes: Int

    public init(
        eventLoop: EventLoop, addresses: RuntimeAddresses, configuration: BusConfiguration, logger: Logger,
        metrics: BusMetrics = .disabled
    ) {
        self.metrics = metrics
        self.eventLoop = eventLoop
        self.addresses = addresses
        self.configuration = configuration
        self.logger = logger
        eagerFlushBytes = CPUAffinity.usableCPUs() > 1 ? 8192 : Int.max
    }

    /// Starts the response-timeout sweep. Call once, on the loop.
    public func start() {
        let interval = TimeAmount.nanoseconds(
            max(5_000_000, min(50_000_000, configuration.responseTimeout.nanoseconds / 20)))
        sweeper = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.expireRequests()
        }
        idleSweeper?.cancel()
        idleSweeper = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.sweepIdleStubs()
        }
    }

    /// Applies new limits (a `SIGHUP` reload). On the loop. A new response timeout applies to requests sent
    /// from now on; requests already waiting keep the deadline they were given. Remembered deployment
    /// failures are forgotten (the reload may have brought the missing descriptor or credentials), so the
    /// next message tries again; `dead` stubs stay dead until an operator redeploys them.
    public func reconfigure(_ configuration: BusConfiguration) {
        eventLoop.preconditionInEventLoop()
        for route in routes.values where route.status == .deploymentFailed {
            route.failure?.until = eventLoop.now
        }
        let restartSweep = configuration.responseTimeout != self.configuration.responseTimeout && sweeper != nil
        self.configuration = configuration
        if restartSweep {
            sweeper?.cancel()
            start()
        }
    }

    /// Stops the sweep; pending requests are answered 503 (the runtime is going away).
    public func stop() {
        isStopped = true
        sweeper?.cancel()
        sweeper = nil
        idleSweeper?.cancel()
        idleSweeper = nil
        for request in Array(pending.values) {
            finish(request, code: 503, desc: "the runtime is shutting down")
        }
        flush()
    }

    // MARK: Ports and listeners

    /// Attaches a port. A client port also listens on its own client URL: messages sent to it (by another
    /// client, or inbound from a stub) reach it.
    public func attach(_ port: BusPort) {
        port.isAttached = true
        if case .client(_, let url) = port.kind {
            listeners[url, default: []].append(port)
            port.listening.insert(url)
        }
    }

    /// Detaches a port: its addresses are dropped, requests it sent are forgotten (their responses will be
    /// dropped), and requests only it was going to answer get 502.
    public func detach(_ port: BusPort) {
        guard port.isAttached else { return }
        port.isAttached = false
        if !watchers.isEmpty { watchers.removeAll { $0.port === port } }
        for address in port.listening { removeListener(port, from: address) }
        port.listening.removeAll()
        for request in Array(pending.values) {
            if request.requester === port {
                forget(request)
                continue
            }
            guard case .ports(let ports) = request.target, ports.contains(port) else { continue }
            let remaining = ports.filter { $0 !== port }
            if remaining.isEmpty {
                finish(request, code: 502, desc: "the listener on \(request.to) went away before answering")
            } else {
                request.target = .ports(remaining)
            }
        }
        flush()
    }

    /// Why a port may not listen on an address.
    public enum ListenRefusal: Error, Sendable, CustomStringConvertible {
        case runtimeLocal(String)
        case ownedByAnotherUser(String)

        public var description: String {
            switch self {
            case .runtimeLocal(let address):
                return "\(address) is a runtime address; only <runtimeURL>/status can be listened on"
            case .ownedByAnotherUser(let address): return "\(address) is owned by a connection of another Unix user"
            }
        }
    }

    /// Adds `port` as a listener on `address`. An address owned by another Unix user's port is refused.
    public func listen(_ port: BusPort, on address: String) throws(ListenRefusal) {
        if addresses.isRuntimeLocal(address), address != addresses.status, !(port.kindIsComponent) {
            throw .runtimeLocal(address)
        }
        let current = listeners[address, default: []]
        if let owner = current.first, let ownerUID = owner.credentials?.uid, ownerUID != port.credentials?.uid {
            throw .ownedByAnotherUser(address)
        }
        if !current.contains(port) { listeners[address] = current + [port] }
        port.listening.insert(address)
    }

    public func unlisten(_ port: BusPort, from address: String) {
        port.listening.remove(address)
        removeListener(port, from: address)
    }

    func removeListener(_ port: BusPort, from address: String) {
        guard var ports = listeners[address] else { return }
        ports.removeAll { $0 === port }
        listeners[address] = ports.isEmpty ? nil : ports
    }

    // MARK: Routing

    /// Routes one message that `sender` wrote. Clients' messages must already carry a `from` they own.
    public func route(_ message: Message, from sender: BusPort) {
        // A response's request is looked up once, for the stub check and the delivery.
        let answered = message.type == .response ? message.id.flatMap { pending[PendingKey(address: message.to, id: $0)] } : nil
        if case .stub(let domain, let url) = sender.kind {
            guard acceptFromStub(message, domain: domain, url: url, port: sender, answering: answered) else { return }
        }
        if message.type == .response {
            deliverResponse(message, answering: answered, from: sender)
            return
        }
        if message.to == addresses.status {
            // Listeners there trust what arrives as the Registry's word: nobody else publishes on it.
            if case .stub(let domain, let url) = sender.kind {
                stubViolation(sender, domain: domain, url: url, reason: "message to the runtime's status stream")
            } else {
                answer(
                    message, to: sender, code: 403,
                    desc: "only the runtime's Registry publishes on \(addresses.status); listen on it instead")
            }
            return
        }
        if message.type == .update, let stubURL = RuntimeAddresses.stubURL(ofStatusResource: message.to) {
            statusUpdate(message, for: stubURL, from: sender)
            return
        }
        // The message is passed on as it is unless it must be rewritten; no copy of it is made (a copy retains
        // each of its strings and arrays, on every message).
        if case .stub(_, let url) = sender.kind {
            forward(message, as: message.rewritten(appendingVia: url), from: sender)
        } else if message.needsCanonicalType {
            forward(message, as: message.rewritten(), from: sender)
        } else {
            forward(message, as: message, from: sender)
        }
    }

    /// Tracks a request and delivers it (`outbound`: the message as it is written on) to its listeners or
    /// its domain's stub.
    private func forward(_ message: Message, as outbound: Message, from sender: BusPort) {
        var request: PendingRequest?
        if let id = message.id, let from = message.from {
            guard !isStopped else {
                answer(message, to: sender, code: 503, desc: "the runtime is shutting down")
                return
            }
            let key = PendingKey(address: from, id: id)
            // One lookup: the new request takes the key's place, and gives it back if it was taken.
            let tracked = PendingRequest(
                key: key, requester: sender, to: message.to, target: .ports([]),
                deadline: eventLoop.now + configuration.responseTimeout)
            if let inFlight = pending.updateValue(tracked, forKey: key) {
                pending[key] = inFlight
                answer(message, to: sender, code: 400, desc: "a request with id \(id) from \(from) is still in flight")
                return
            }
            guard sender.inFlight < configuration.maxInFlightPerPeer else {
                pending.removeValue(forKey: key)
                answer(
                    message, to: sender, code: 429,
                    desc: "\(sender.inFlight) requests from this connection wait for their answers, the most one peer may (maxInFlightPerPeer)")
                return
            }
            track(tracked)
            request = tracked
        }
        if let ports = listeners[message.to] {
            let receivers = ports.filter { $0 !== sender }
            if !receivers.isEmpty {
                if let (domain, route, fanOut) = multiPartyRoute(of: message.to), routeOf(sender) !== route {
                    // A channel or topic: the message goes to the network, whose answer is the final one, and
                    // a copy to each local listener unless the network brings it back to them itself (a
                    // listener's answer to its copy is dropped).
                    if fanOut == .copies { for port in receivers { write(outbound, to: port, sender: sender) } }
                    routeToStub(outbound, domain: domain, request: request, sender: sender)
                    return
                }
                request?.target = .ports(receivers)
                for port in receivers { write(outbound, to: port, sender: sender) }
                return
            }
        }
        if addresses.isRuntimeLocal(message.to) {
            respond(request, message, to: sender, code: 404, desc: "nothing listens on \(message.to)")
            return
        }
        guard let domain = domainKey(of: message.to) else {
            respond(
                request, message, to: sender, code: 404,
                desc: "no route: \(message.to) has no domain a stub could serve")
            return
        }
        if case .stub(let senderDomain, _) = sender.kind, senderDomain == domain {
            respond(
                request, message, to: sender, code: 404,
                desc: "no route: a stub's message to its own domain \(domain) would loop back to it")
            return
        }
        routeToStub(outbound, domain: domain, request: request, sender: sender)
    }

    /// The domain key of a destination, remembered for the last one: pipelined traffic names the same address
    /// over and over, and comparing it with the last is cheaper than reading its key again.
    private func domainKey(of address: String) -> DomainKey? {
        if let last = lastDestination, last.address == address { return last.key }
        guard let key = DomainKey(address: address) else { return nil }
        lastDestination = (address, key)
        return key
    }

    /// The route of the stub that declared `address` multi-party, if one did, and how it fans out.
    func multiPartyRoute(of address: String) -> (DomainKey, StubRoute, StubRoute.FanOut)? {
        guard !routes.isEmpty, let domain = DomainKey(address: address), let route = routes[domain],
            let fanOut = route.fanOut(of: address)
        else { return nil }
        return (domain, route, fanOut)
    }

    /// Registers a request so that it gets exactly one final response, by its deadline at the latest.
    /// `request` is in `pending` already.
    private func track(_ request: PendingRequest) {
        request.requester.inFlight += 1
        timeouts.append(request)
    }

    /// A request is over (answered, or its requester gone): out of the table and the timeout list at once.
    @discardableResult
    private func forget(_ request: PendingRequest) -> Bool {
        timeouts.remove(request)
        guard pending.removeValue(forKey: request.key) != nil else { return false }
        request.requester.inFlight -= 1
        if !drainWaiters.isEmpty { drainCount(request) }
        return true
    }

    /// Delivers a response to the request it answers (`pending[(to, id)]`, looked up by the caller).
    private func deliverResponse(_ message: Message, answering request: PendingRequest?, from sender: BusPort) {
        guard let id = message.id, let request else {
            logger.debug(
                "response dropped: no request waits for it (late or unmatched)",
                metadata: ["to": "\(message.to)", "from": "\(sender)"])
            return
        }
        guard isExpectedResponder(sender, of: request) else {
            // A listener answering its copy of a message to a channel or topic is not a fault worth a warning.
            let copy = multiPartyRoute(of: request.to) != nil
            logger.log(
                level: copy ? .debug : .warning, "response dropped: \(sender) was not asked",
                metadata: ["to": "\(message.to)", "id": "\(id)"])
            return
        }
        if message.isFinalResponse {
            forget(request)
            (request.meters ?? metrics.none).finished(code: message.code ?? 200)
        }
        if case .stub = sender.kind { routeOf(sender)?.countFromStub() }
        if message.needsCanonicalType {
            write(message.rewritten(), to: request.requester, sender: sender)
        } else {
            write(message, to: request.requester, sender: sender)
        }
    }

    func isExpectedResponder(_ sender: BusPort, of request: PendingRequest) -> Bool {
        switch request.target {
        case .ports(let ports): return ports.contains(sender)
        case .stub(let domain, let url):
            guard case .stub(let senderDomain, let senderURL) = sender.kind else { return false }
            return senderDomain == domain && (url == nil || url == senderURL)
        }
    }

    func routeOf(_ port: BusPort) -> StubRoute? {
        guard case .stub(let domain, _) = port.kind, let route = routes[domain], route.port === port else { return nil }
        return route
    }

    // MARK: Answers

    /// Answers a request from the runtime itself (SPEC section 2): with the request's `id`, `from` the address
    /// it was sent to, `to` its sender. Untracked messages (no `id`) are logged instead.
    func respond(_ request: PendingRequest?, _ message: Message, to sender: BusPort, code: Int, desc: String) {
        if let request {
            finish(request, code: code, desc: desc)
        } else {
            answer(message, to: sender, code: code, desc: desc)
        }
    }

    /// Gives a tracked request its final response from the runtime, once.
    func finish(_ request: PendingRequest, code: Int, desc: String) {
        guard forget(request) else { return }
        if request.inStubQueue, case .stub(let domain, _) = request.target, let route = routes[domain] {
            route.answeredInQueue += 1
        }
        (request.meters ?? metrics.none).finished(code: code)
        metrics.runtimeAnswers.increment()
        let response = Message.response(
            id: request.key.id, from: request.to, to: request.key.address, code: code, desc: desc)
        logger.debug(
            "runtime answered \(code)",
            metadata: ["to": "\(request.key.address)", "id": "\(request.key.id)", "desc": "\(desc)"])
        write(response, to: request.requester, sender: nil)
    }

    /// Answers a message that is not tracked: requests with an `id` get an error response, others a log line.
    public func answer(_ message: Message, to sender: BusPort, code: Int, desc: String) {
        guard let id = message.id, message.type != .response else {
            let (write, suppressed) = sender.droppedNotices.admit()
            if let suppressed {
                logger.notice(
                    "\(suppressed) more dropped message(s) from \(sender) were not logged (over \(sender.droppedNotices.burst) in \(sender.droppedNotices.interval.nanoseconds / 1_000_000_000) s)",
                    metadata: ["from": "\(sender)", "rethink_suppressed": "\(suppressed)"])
            }
            if write {
                logger.notice("message dropped (\(code)): \(desc)", metadata: ["to": "\(message.to)", "from": "\(sender)"])
            }
            return
        }
        let response = Message.response(
            id: id, from: message.to, to: message.from ?? sender.url, code: code, desc: desc)
        metricsOfAddress(message.to).finished(code: code)
        metrics.runtimeAnswers.increment()
        write(response, to: sender, sender: nil)
    }

    private func expireRequests() {
        for request in timeouts.expired(at: eventLoop.now) {
            guard pending[request.key] === request else { continue }
            finish(
                request, code: 408,
                desc:
                    "no final response from \(request.to) within \(configuration.responseTimeout.nanoseconds / 1_000_000) ms"
            )
        }
        flush()
    }

    // MARK: Writing

    /// Writes to a port and remembers to flush it at the end of the batch.
    func write(_ message: Message, to port: BusPort, sender: BusPort?) {
        guard port.isAttached else { return }
        metrics.delivered.increment()
        if !watchers.isEmpty { tap(message, to: port, sender: sender) }
        port.write(message, sender: sender)
        markForFlush(port)
    }

    /// The meters a request to `address` counts under: its domain's, if a stub serves it, else "none".
    func metricsOfAddress(_ address: String) -> DomainMeters {
        guard let domain = DomainKey(address: address), let meters = routes[domain]?.meters else { return metrics.none }
        return meters
    }

    /// Sets the gauges only a scrape reads (queue depth): on the loop, just before the scrape is rendered.
    public func refreshGauges() {
        for route in routes.values {
            route.meters?.queued.record(route.queue.count)
        }
    }

    /// Marks a port as written to, for ``flush()``: every delivery, and the tap's events.
    func markForFlush(_ port: BusPort) {
        if !port.needsFlush {
            port.needsFlush = true
            toFlush.append(port)
        }
    }

    /// Flushes what the current batches wrote once this event-loop iteration has handled all its ready
    /// channels, instead of once per channel. With many stubs, each answers its own few requests: flushing the
    /// client after each stub's read was one client write per answer (docs/BENCHMARK.md, 1,000 domains).
    public func flushAfterReads() {
        guard !flushScheduled, !toFlush.isEmpty else { return }
        flushScheduled = true
        eventLoop.execute { [self] in
            flushScheduled = false
            flush()
        }
    }

    /// Flushes every port written to since the last flush. Call at the end of each batch of input.
    public func flush() {
        guard !toFlush.isEmpty else { return }
        let ports = toFlush
        toFlush.removeAll(keepingCapacity: true)
        for port in ports {
            port.needsFlush = false
            if port.isAttached { port.flush() }
        }
    }

    /// Delivers a message the runtime itself originates (status broadcasts, greetings) to the listeners on
    /// its `to`, without tracking.
    public func broadcast(_ message: Message) {
        for port in listeners[message.to] ?? [] { write(message, to: port, sender: nil) }
        flush()
    }

    /// Writes a message straight to one port (greetings, handshake), without routing.
    public func send(_ message: Message, to port: BusPort) {
        write(message, to: port, sender: nil)
    }
}

extension BusPort {
    var kindIsComponent: Bool {
        if case .component = kind { return true }
        return false
    }
}
