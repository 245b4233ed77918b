import RethinkMessages

/// What the MessageBUS asks of the Runtime UA. Called on the bus's event loop; must not block.
public protocol BusDelegate: AnyObject, Sendable {
    /// A message is waiting for a domain that has no stub: deploy one.
    func bus(_ bus: MessageBus, needsStubFor domain: DomainKey)
    /// The domain's stub reported a status over its own MiniBUS.
    func bus(_ bus: MessageBus, stub url: String, of domain: DomainKey, reported status: StubStatus, desc: String?)
    /// The stub sent more foreign messages than allowed: stop it with status `failed`.
    func bus(_ bus: MessageBus, stubExceededViolations url: String, of domain: DomainKey)
    /// The stub has been idle for its idle time: undeploy it through ``MessageBus/takeIdleStub(_:of:)``, or
    /// keep it (``MessageBus/idleStubKept(_:of:)``).
    func bus(_ bus: MessageBus, stubIdle url: String, of domain: DomainKey)
}
