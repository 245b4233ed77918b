import FoundationEssentials
import RethinkMessages

/// An operator's watch on the bus (`rethinkctl monitor`): which deliveries it sees, and what it missed while
/// it did not keep up.
final class BusWatcher {
    let port: BusPort
    let domain: DomainKey?
    let address: String?
    let bodies: Bool
    /// Events not written since the last one that was, because the watcher did not read (its port over its
    /// output limit): the next event says how many.
    var dropped = 0
    var sequence: UInt64 = 0

    init(port: BusPort, domain: DomainKey?, address: String?, bodies: Bool) {
        self.port = port
        self.domain = domain
        self.address = address
        self.bodies = bodies
    }

    func matches(_ message: Message, sender: BusPort?, receiver: BusPort) -> Bool {
        if let address, message.from != address, message.to != address { return false }
        guard let domain else { return true }
        if DomainKey(address: message.to) == domain || message.from.flatMap(DomainKey.init(address:)) == domain {
            return true
        }
        for port in [sender, receiver] {
            if case .stub(let stubDomain, _)? = port?.kind, stubDomain == domain { return true }
        }
        return false
    }
}

extension MessageBus {
    /// Adds a watcher for `port` (a client the caller checked is an operator). Its events are `update`s from
    /// `<runtimeURL>/monitor`, one per delivery the bus makes from now on. A port has one watch at a time.
    public func watch(_ port: BusPort, domain: DomainKey?, address: String?, bodies: Bool) {
        watchers.removeAll { $0.port === port }
        watchers.append(BusWatcher(port: port, domain: domain, address: address, bodies: bodies))
    }

    /// Ends `port`'s watch; whether it had one.
    @discardableResult
    public func unwatch(_ port: BusPort) -> Bool {
        let before = watchers.count
        watchers.removeAll { $0.port === port }
        return watchers.count != before
    }

    /// One delivery, described to every watcher it matches. A watcher that does not keep up loses events
    /// (counted); the bus never waits for it.
    func tap(_ message: Message, to receiver: BusPort, sender: BusPort?) {
        for watcher in watchers where watcher.port.isAttached && watcher.matches(message, sender: sender, receiver: receiver) {
            guard watcher.port.isWritable else {
                watcher.dropped += 1
                continue
            }
            watcher.sequence &+= 1
            let event = Message.make(
                type: .update, from: addresses.monitor, to: watcher.port.url,
                body: ["value": describe(message, to: receiver, sender: sender, for: watcher)])
            watcher.dropped = 0
            watcher.port.write(event, sender: nil)
            markForFlush(watcher.port)
        }
    }

    private func describe(_ message: Message, to receiver: BusPort, sender: BusPort?, for watcher: BusWatcher)
        -> JSONValue
    {
        var fields: [(String, JSONValue)] = [
            ("seq", .int(Int64(watcher.sequence))),
            ("time", .double(Date().timeIntervalSince1970)),
            ("path", .string("\(Self.role(of: sender))->\(Self.role(of: receiver))")),
            ("sender", .string(sender?.url ?? addresses.runtimeURL)),
            ("receiver", .string(receiver.url)),
            ("type", .string(message.type.rawValue)),
            ("from", message.from.map { .string($0) } ?? .null),
            ("to", .string(message.to)),
            ("id", message.id.map { id in
                switch id {
                case .int(let value): return .int(value)
                case .string(let value): return .string(value)
                }
            } ?? .null),
            ("bytes", .int(Int64(message.bytes.count))),
        ]
        if let code = message.code { fields.append(("code", .int(Int64(code)))) }
        if watcher.dropped > 0 { fields.append(("dropped", .int(Int64(watcher.dropped)))) }
        if watcher.bodies, let body = message.body {
            // Credentials (a deploy message's `identity`) are never shown, whoever watches.
            let withheld = body["identity"] != nil || body["credentials"] != nil
            fields.append(("body", withheld ? .string("(withheld: it carries credentials)") : body))
        }
        return .object(fields)
    }

    private static func role(of port: BusPort?) -> String {
        switch port?.kind {
        case .client?: return "client"
        case .stub?: return "stub"
        case .component?, nil: return "runtime"
        }
    }
}
