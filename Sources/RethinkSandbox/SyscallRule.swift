import Glibc

/// One line of a seccomp allowlist: a system call, what to do with it, and optionally the
/// argument values it must match (all of them). Several rules may name the same call.
struct SyscallRule: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        case allow
        /// Fail with this errno whatever the policy's default action: for calls programs probe
        /// and handle, where a kill would be wrong.
        case fail(Int32)
        /// Hand the call to the daemon's ``NetworkSupervisor`` (seccomp user notification).
        case notify
    }

    /// A comparison on one argument, as libseccomp's `SCMP_An(...)`.
    struct Condition: Sendable, Equatable {
        enum Comparison: Sendable, Equatable {
            case equal(UInt64)
            /// `(argument & mask) == value`
            case maskedEqual(mask: UInt64, value: UInt64)
            case notEqual(UInt64)
        }

        let argument: UInt32
        let comparison: Comparison
    }

    let name: String
    let action: Action
    let conditions: [Condition]

    static func allow(_ name: String, when conditions: Condition...) -> SyscallRule {
        SyscallRule(name: name, action: .allow, conditions: conditions)
    }

    static func notify(_ name: String, when conditions: Condition...) -> SyscallRule {
        SyscallRule(name: name, action: .notify, conditions: conditions)
    }

    static func fail(_ name: String, with error: Int32, when conditions: Condition...) -> SyscallRule {
        SyscallRule(name: name, action: .fail(error), conditions: conditions)
    }
}

extension SyscallRule.Condition {
    static func argument(_ index: UInt32, equals value: UInt64) -> Self {
        Self(argument: index, comparison: .equal(value))
    }

    /// Compares only the low 32 bits, as the kernel does for `int` arguments.
    static func argument(_ index: UInt32, low32Equals value: UInt32) -> Self {
        Self(argument: index, comparison: .maskedEqual(mask: 0xffff_ffff, value: UInt64(value)))
    }

    static func argument(_ index: UInt32, notEqual value: UInt64) -> Self {
        Self(argument: index, comparison: .notEqual(value))
    }

    static func argument(_ index: UInt32, masked mask: UInt64, equals value: UInt64) -> Self {
        Self(argument: index, comparison: .maskedEqual(mask: mask, value: value))
    }
}
