import RethinkMessages
import RethinkSandbox

/// The operator's word on one domain's sandbox (`"domains": {"<domain-key>": {...}}` in the daemon's
/// configuration, SPEC section 7): destinations added to, or replacing, the descriptor's `constraints`,
/// and resource limits for that domain's stub.
public struct DomainSandbox: Sendable, Codable, Equatable {
    public var connect: [String]?
    public var datagram: [String]?
    /// true: the descriptor's own `constraints` are ignored, only these destinations apply.
    public var replaceConstraints: Bool?
    public var memoryBytes: UInt64?
    public var tasks: UInt64?
    public var openFiles: UInt64?
    public var fileSizeBytes: UInt64?
    public var scratchBytes: UInt64?

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case connect, datagram, replaceConstraints, memoryBytes, tasks, openFiles, fileSizeBytes, scratchBytes
    }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        connect = try container.decodeIfPresent([String].self, forKey: .connect)
        datagram = try container.decodeIfPresent([String].self, forKey: .datagram)
        replaceConstraints = try container.decodeIfPresent(Bool.self, forKey: .replaceConstraints)
        memoryBytes = try container.decodeIfPresent(UInt64.self, forKey: .memoryBytes)
        tasks = try container.decodeIfPresent(UInt64.self, forKey: .tasks)
        openFiles = try container.decodeIfPresent(UInt64.self, forKey: .openFiles)
        fileSizeBytes = try container.decodeIfPresent(UInt64.self, forKey: .fileSizeBytes)
        scratchBytes = try container.decodeIfPresent(UInt64.self, forKey: .scratchBytes)
    }
}

/// How the Runtime UA confines its stubs beyond seccomp (SPEC section 9); see docs/SANDBOX.md.
public struct IsolationSettings: Sendable, Equatable {
    /// false: seccomp and rlimits only, as before the isolation layer (for the benchmark's baseline).
    public var enabled = true
    public var landlock = true
    public var scratchBytes: UInt64 = 64 << 20
    public var nice: Int32 = 10
    public var domains: [String: DomainSandbox] = [:]

    public init() {}
}
