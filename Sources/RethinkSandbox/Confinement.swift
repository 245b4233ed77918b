/// What actually confines one running stub, as shown by `rethinkctl stubs` and the registry's `read`
/// (SPEC section 9): each mechanism that applied, with its figure.
public struct Confinement: Sendable, Equatable {
    /// The stub's uid as the rest of the host sees it.
    public var uid: UInt32
    /// Its uid inside its own user namespace, when it has one.
    public var namespaceUID: UInt32?
    /// The Landlock ABI it is restricted with; 0: none (kernel without Landlock, or turned off).
    public var landlockABI: Int
    /// The seccomp profile (`python`, `javascript`, `executable`) and whether its network calls are
    /// decided by the daemon.
    public var seccompProfile: String
    public var networkSupervised: Bool
    public var networkRules: Int
    public var scratchBytes: UInt64?
    public var limits: ResourceLimits
    public var nice: Int32

    /// `uid 1879048193, landlock 7, seccomp python, network 2 rules, memory 1G, tasks 128, files 1024, scratch 64M`
    public var summary: String {
        var parts = [namespaceUID.map { "uid \(uid) (userns \($0))" } ?? "uid \(uid)"]
        parts.append(landlockABI > 0 ? "landlock \(landlockABI)" : "no landlock")
        parts.append("seccomp \(seccompProfile)")
        if networkSupervised { parts.append("network \(networkRules) rule\(networkRules == 1 ? "" : "s")") }
        if let memory = limits.memoryBytes { parts.append("memory \(Self.size(memory))") }
        if let tasks = limits.tasks { parts.append("tasks \(tasks)") }
        parts.append("files \(limits.openFiles)")
        if let scratchBytes { parts.append("scratch \(Self.size(scratchBytes))") }
        if nice != 0 { parts.append("nice \(nice)") }
        return parts.joined(separator: ", ")
    }

    static func size(_ bytes: UInt64) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)G" }
        if bytes >= 1 << 20 { return "\(bytes >> 20)M" }
        return "\(bytes >> 10)K"
    }
}
