import RethinkMessages

/// Where the time of one stub's deploy went, phase by phase: the answer to "why is first contact slow?"
/// without a profiler (issue 13 asks the bench to print it). The Runtime UA times the phases it runs; the
/// Registry adds the last one when the stub reports `live`, since that report can reach it before or after
/// the UA's deploy task resumes from the handshake.
public struct DeployTimings: Sendable, Equatable {
    /// Finding the descriptor (local catalogue, or the domain's well-known URL) and the domain's identity.
    public var catalogue: Duration = .zero
    /// Fetching or finding the package, preparing its scratch directory and the isolation settings.
    public var package: Duration = .zero
    /// Starting the sandboxed process (fork, namespaces, Landlock, seccomp, exec).
    public var spawn: Duration = .zero
    /// Wrapping its pipes in the event loop and recording its pid.
    public var attach: Duration = .zero
    /// From the deploy message being written to the stub's answer being read.
    public var handshake: Duration = .zero
    /// From that answer to the stub's `live` status (nil until it reports it).
    public var statuses: Duration?

    /// When the handshake's answer was taken, to time `statuses` from.
    var answeredAt: ContinuousClock.Instant?
    /// When `live` was applied, should it come before the UA handed the phases over.
    var liveAt: ContinuousClock.Instant?

    public init() {}

    /// The phases so far, in milliseconds with microsecond precision, for `<runtimeURL>/registry`.
    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("catalogue", Self.milliseconds(catalogue)), ("package", Self.milliseconds(package)),
            ("spawn", Self.milliseconds(spawn)), ("attach", Self.milliseconds(attach)),
            ("handshake", Self.milliseconds(handshake)),
        ]
        if let statuses { fields.append(("statuses", Self.milliseconds(statuses))) }
        return .object(fields)
    }

    /// Takes the UA's phases; `answeredAt` is when the handshake's answer was taken.
    mutating func merge(phases: DeployTimings, answeredAt: ContinuousClock.Instant) {
        let live = liveAt
        self = phases
        self.answeredAt = answeredAt
        if let live { statuses = max(.zero, live - answeredAt) }
    }

    /// The stub reported `live` at `instant`; the first report counts.
    mutating func live(at instant: ContinuousClock.Instant) {
        guard statuses == nil, liveAt == nil else { return }
        liveAt = instant
        if let answeredAt { statuses = max(.zero, instant - answeredAt) }
    }

    private static func milliseconds(_ duration: Duration) -> JSONValue {
        let (seconds, attoseconds) = duration.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return .double(Double(micros) / 1000)
    }
}
