/// How a sandboxed child ended, as reported by `waitid`.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    /// The child called `exit` with this code.
    case exited(Int32)
    /// The child was killed by this signal; 31 (SIGSYS) means the seccomp filter killed it.
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal) where signal == 31: return "killed by signal 31 (SIGSYS: a forbidden system call)"
        case .signaled(let signal): return "killed by signal \(signal)"
        }
    }
}
