import RethinkMessages

/// One status change, as the Registry re-broadcasts it to the listeners on `<runtimeURL>/status`.
public struct StatusChange: Sendable, Equatable {
    public let stubURL: String
    public let domain: DomainKey
    public let status: StubStatus
    public let previous: StubStatus?
    public let desc: String?
    /// False when the transition is outside reTHINK's state machine (applied, and logged as a warning).
    public let expected: Bool
    /// Why, for programs (nil: not known, e.g. a stub's own report without one).
    public var reason: StatusReason? = nil

    /// The broadcast: `{"type": "update", "from": <runtimeURL>, "to": <runtimeURL>/status, "body": {...}}`.
    public func message(addresses: RuntimeAddresses) -> Message {
        var body: [(String, JSONValue)] = [
            ("value", .string(status.rawValue)), ("resource", .string(stubURL)), ("domain", .string(domain.value)),
        ]
        if let desc { body.append(("desc", .string(desc))) }
        if let reason { body.append(("reason", .string(reason.rawValue))) }
        return Message.make(type: .update, from: addresses.runtimeURL, to: addresses.status, body: .object(body))
    }
}
