/// What a stub may do: the system calls its runtime needs and nothing that reaches beyond the
/// stub itself (mounts, namespaces, tracing, kernel modules, clocks, new processes).
///
/// The seccomp filter is an allowlist per ``StubLanguage``; see `docs/SANDBOX.md` for each list
/// and the reasons behind it.
public struct SandboxPolicy: Sendable {
    /// What the filter does with a system call that is not allowed.
    public enum DefaultAction: String, Sendable, Codable {
        /// The call fails with EPERM and the stub goes on: it can report the failure. The default.
        case errno
        /// The kernel kills the stub with SIGSYS, for operators who prefer a loud failure.
        case kill
    }

    public var language: StubLanguage
    public var defaultAction: DefaultAction
    public var limits: ResourceLimits
    /// Identity, Landlock, scratch, network supervision (SPEC section 9); nil: seccomp and rlimits only.
    public var isolation: Isolation?

    public init(
        language: StubLanguage, defaultAction: DefaultAction = .errno, limits: ResourceLimits = .default,
        isolation: Isolation? = nil
    ) {
        self.language = language
        self.defaultAction = defaultAction
        self.limits = limits
        self.isolation = isolation
    }

    public static func forLanguage(
        _ language: StubLanguage,
        defaultAction: DefaultAction = .errno,
        limits: ResourceLimits = .default,
        isolation: Isolation? = nil
    ) -> SandboxPolicy {
        SandboxPolicy(language: language, defaultAction: defaultAction, limits: limits, isolation: isolation)
    }

    /// The system calls this policy allows, some of them only with certain arguments
    /// (`clone` for threads, `socket` for AF_UNIX/AF_INET/AF_INET6, ...).
    public var allowedSyscalls: [String] {
        var seen = Set<String>()
        return SyscallRule.rules(for: language, supervised: isolation != nil).compactMap { rule in
            guard case .allow = rule.action, seen.insert(rule.name).inserted else { return nil }
            return rule.name
        }
    }
}
