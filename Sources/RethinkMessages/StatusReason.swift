/// Why a stub's status changed, for programs: the `reason` beside the free-text `desc` of every status
/// broadcast, registry entry and journal entry (`RETHINK_REASON`), as Telepathy's connection status reasons
/// and mautrix's bridge states let a client act on a change without parsing its text.
public enum StatusReason: String, Sendable, CaseIterable, Codable {
    /// A message (or an operator) needed the stub: a deployment starts.
    case requested
    /// The stub reported it over its MiniBUS.
    case reported
    /// Undeployed or redeployed by an operator (`rethinkctl undeploy`, `deploy`).
    case `operator`
    /// Undeployed after its idle time without traffic.
    case idle
    /// Its process ended without being asked to.
    case crashed
    /// No answer to the deploy message in time.
    case timedOut = "timed-out"
    /// Nobody publishes a descriptor for the domain.
    case noDescriptor = "no-descriptor"
    /// The descriptor or package was refused: unreadable, wrong digest or signature, unsupported language.
    case refusedPackage = "refused-package"
    /// The domain's credentials could not be read.
    case authenticationFailed = "authentication-failed"
    /// The sandbox could not start it.
    case spawnFailed = "spawn-failed"
    /// It refused its deploy message, or failed before reaching `live`.
    case handshakeFailed = "handshake-failed"
    /// Stopped for breaking the bus's rules too often.
    case violations
    /// Stopped because the runtime is shutting down.
    case shutdown
    /// Replaced by a newer version (live upgrade).
    case upgraded
}
