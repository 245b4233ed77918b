import FoundationEssentials
import Logging
import NIOCore
import RethinkBus
import RethinkMessages
import RethinkRegistry
import RethinkRuntimeUA

/// The runtime-local addresses (SPEC section 5): `<runtimeURL>/bus` (subscribe, unsubscribe),
/// `<runtimeURL>/registry` (read) and `<runtimeURL>/ua` (create, delete). A runtime component on the bus:
/// requests reach it like any listener and its answers travel back through the bus's response tracking.
public final class RuntimeServices: @unchecked Sendable {
    private let bus: MessageBus
    private let registry: Registry
    private let ua: RuntimeUA
    /// Replaced by a reload; on the loop.
    public var admin: AdminPolicy
    private let logger: Logger
    private(set) var port: BusPort!
    private var nextSubscription = 0
    /// The last failure of a remote subscribe, per domain, shown in the registry listing.
    private var subscriptionErrors: [DomainKey: String] = [:]

    public init(bus: MessageBus, registry: Registry, ua: RuntimeUA, admin: AdminPolicy, logger: Logger) {
        self.bus = bus
        self.registry = registry
        self.ua = ua
        self.admin = admin
        self.logger = logger
        port = BusPort(
            kind: .component(url: bus.addresses.registry),
            deliver: { [weak self] message, sender in self?.handle(message, from: sender) },
            flush: {})
    }

    /// Attaches the component and listens on its addresses. On the loop.
    public func start() throws {
        bus.attach(port)
        for address in [bus.addresses.bus, bus.addresses.registry, bus.addresses.ua, bus.addresses.monitor] {
            try bus.listen(port, on: address)
        }
    }

    private func handle(_ message: Message, from sender: BusPort?) {
        if message.type == .response {
            remoteSubscribeAnswered(message)
            return
        }
        guard let sender else { return }
        switch (message.to, message.type) {
        case (bus.addresses.bus, .subscribe): subscribe(message, from: sender)
        case (bus.addresses.bus, .unsubscribe): unsubscribe(message, from: sender)
        case (bus.addresses.registry, .read): readRegistry(message)
        case (bus.addresses.ua, .create), (bus.addresses.ua, .delete): deployOrUndeploy(message, from: sender)
        case (bus.addresses.monitor, .subscribe): watch(message, from: sender)
        case (bus.addresses.monitor, .unsubscribe):
            let had = bus.unwatch(sender)
            reply(message, code: had ? 200 : 404, desc: had ? "no longer watching" : "this connection was not watching")
        default:
            reply(message, code: 400, desc: "\(message.to) does not take \(message.type.rawValue)")
        }
    }

    private func reply(_ request: Message, code: Int, desc: String? = nil, value: JSONValue? = nil) {
        guard request.id != nil else { return }
        bus.route(request.response(code: code, desc: desc, value: value), from: port)
    }

    private func replyLater(_ request: Message, code: Int, desc: String? = nil, value: JSONValue? = nil) {
        bus.eventLoop.execute {
            self.reply(request, code: code, desc: desc, value: value)
            self.bus.flush()
        }
    }

    private func addressList(_ message: Message, key: String) -> [String]? {
        guard let list = message.body?[key] else { return nil }
        if let single = list.stringValue { return [single] }
        guard let values = list.arrayValue else { return nil }
        let addresses = values.compactMap(\.stringValue)
        return addresses.count == values.count && !addresses.isEmpty ? addresses : nil
    }

    // MARK: <runtimeURL>/bus

    private func subscribe(_ message: Message, from sender: BusPort) {
        guard let addresses = addressList(message, key: "subscribe") else {
            reply(message, code: 400, desc: "body.subscribe must be a non-empty list of addresses")
            return
        }
        var added: [String] = []
        for address in addresses {
            do {
                try bus.listen(sender, on: address)
                added.append(address)
            } catch {
                for address in added { bus.unlisten(sender, from: address) }
                reply(message, code: 403, desc: error.description)
                return
            }
        }
        reply(message, code: 200, desc: "listening", value: .array(addresses.map { .string($0) }))
        subscribeRemotely(addresses)
    }

    /// Listening on an address of a remote domain also asks that domain's stub to route it here. Best effort:
    /// a failure is logged and shown in the registry listing.
    private func subscribeRemotely(_ addresses: [String]) {
        var byDomain: [DomainKey: [String]] = [:]
        for address in addresses where !bus.addresses.isRuntimeLocal(address) {
            guard let domain = DomainKey(address: address) else { continue }
            byDomain[domain, default: []].append(address)
        }
        for (domain, addresses) in byDomain.sorted(by: { $0.key < $1.key }) {
            nextSubscription += 1
            let request = Message.make(
                id: .string("subscribe-\(nextSubscription)"), type: .subscribe, from: bus.addresses.registry,
                to: "domain://msg-node.\(domain.value)/sm", body: ["subscribe": .array(addresses.map { .string($0) })])
            bus.route(request, from: port)
        }
    }

    private func remoteSubscribeAnswered(_ response: Message) {
        guard let domain = DomainKey(address: response.from ?? "") else { return }
        if let code = response.code, code >= 300 {
            let reason =
                "remote subscribe at \(response.from ?? domain.value) failed with \(code)"
                + (response.desc.map { ": \($0)" } ?? "")
            subscriptionErrors[domain] = reason
            logger.warning("\(reason)", metadata: StubMetadata.of(domain: domain))
        } else if (response.code ?? 200) >= 200 {
            subscriptionErrors[domain] = nil
        }
    }

    private func unsubscribe(_ message: Message, from sender: BusPort) {
        guard let addresses = addressList(message, key: "unsubscribe") else {
            reply(message, code: 400, desc: "body.unsubscribe must be a non-empty list of addresses")
            return
        }
        for address in addresses { bus.unlisten(sender, from: address) }
        reply(message, code: 200, desc: "no longer listening", value: .array(addresses.map { .string($0) }))
    }

    // MARK: <runtimeURL>/registry

    private func readRegistry(_ message: Message) {
        let registry = self.registry
        Task {
            let records = await registry.snapshot()
            self.bus.eventLoop.execute {
                let list = records.map { self.describe($0) }
                self.reply(message, code: 200, value: .array(list))
                self.bus.flush()
            }
        }
    }

    private func describe(_ record: StubRecord) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("domain", .string(record.domain.value)), ("url", .string(record.url)),
            ("status", .string(record.status.rawValue)),
            ("pid", record.pid.map { .int(Int64($0)) } ?? .null),
            ("version", record.version.map { .string($0) } ?? .null),
            ("interworking", .bool(record.interworking)),
            ("since", .string(record.since.iso8601ToTheSecond)),
            ("restarts", .int(Int64(record.restarts))),
            ("confinement", record.confinement ?? .null),
        ]
        if record.deployTimings != DeployTimings() { fields.append(("deployMs", record.deployTimings.json)) }
        if let desc = record.desc { fields.append(("desc", .string(desc))) }
        if let reason = record.reason { fields.append(("reason", .string(reason.rawValue))) }
        if let counters = bus.counters(for: record.domain) {
            fields.append(
                (
                    "messages",
                    [
                        "toStub": .int(Int64(counters.toStub)), "fromStub": .int(Int64(counters.fromStub)),
                        "queued": .int(Int64(counters.queued)),
                    ]
                ))
        }
        if let error = subscriptionErrors[record.domain] { fields.append(("subscriptionError", .string(error))) }
        return .object(fields)
    }

    // MARK: <runtimeURL>/monitor

    /// `rethinkctl monitor`: every delivery the bus makes, as it makes it, for an operator's connection.
    /// `body.value`: `domain` and `address` narrow it; `bodies: true` adds message bodies.
    private func watch(_ message: Message, from sender: BusPort) {
        guard case .client = sender.kind, admin.allows(sender.credentials) else {
            reply(message, code: 403, desc: "watching the bus is for root and the admin group")
            return
        }
        let options = message.bodyValue
        var domain: DomainKey?
        if let name = options?["domain"]?.stringValue {
            guard let key = DomainKey(name.lowercased()) else {
                reply(message, code: 400, desc: "body.value.domain must be a domain key such as acme.example")
                return
            }
            domain = key
        }
        let address = options?["address"]?.stringValue
        let bodies = options?["bodies"]?.boolValue ?? false
        reply(message, code: 200, desc: "watching")
        bus.watch(sender, domain: domain, address: address, bodies: bodies)
        var what = "\(sender.url) (uid \(sender.credentials?.uid ?? 0)) watches the bus"
        if let domain { what += " for \(domain)" }
        if let address { what += " at \(address)" }
        if bodies { what += ", with bodies" }
        logger.notice("\(what)", metadata: ["rethink_client": "\(sender.url)"])
    }

    // MARK: <runtimeURL>/ua

    private func deployOrUndeploy(_ message: Message, from sender: BusPort) {
        guard admin.allows(sender.credentials) else {
            reply(message, code: 403, desc: "deploying and undeploying stubs is for root and the admin group")
            return
        }
        guard let name = message.bodyValue?["domain"]?.stringValue, let domain = DomainKey(name.lowercased()) else {
            reply(message, code: 400, desc: "body.value.domain must be a domain key such as acme.example")
            return
        }
        let ua = self.ua
        if message.type == .create {
            Task {
                switch await ua.operatorDeploy(domain) {
                case .success(let url):
                    self.replyLater(
                        message, code: 200, desc: "deployed",
                        value: ["domain": .string(domain.value), "url": .string(url)])
                case .failure(let error):
                    self.replyLater(message, code: error.answerCode, desc: error.message)
                }
            }
        } else {
            Task {
                let existed = await ua.undeploy(domain)
                if existed {
                    self.replyLater(message, code: 200, desc: "undeployed", value: ["domain": .string(domain.value)])
                } else {
                    self.replyLater(message, code: 404, desc: "no stub is deployed for \(domain)")
                }
            }
        }
    }
}

extension Date {
    /// ISO 8601 in UTC to the second ("2025-01-01T00:00:00Z"), as Foundation's `ISO8601DateFormatter` wrote it for
    /// the registry's `since`: it rounded to the millisecond before dropping the fraction, where
    /// `formatted(.iso8601)` alone truncates, so 23:59:59.9996 reads as the next second in both.
    fileprivate var iso8601ToTheSecond: String {
        let milliseconds = (timeIntervalSince1970 * 1000 + 0.5).rounded(.down)
        return Date(timeIntervalSince1970: milliseconds / 1000).formatted(.iso8601)
    }
}
