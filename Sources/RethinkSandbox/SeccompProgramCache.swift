import Synchronization

/// Compiled filters by (language, default action): a policy is compiled once per daemon, not
/// once per stub. Compiling takes about a millisecond, so it happens under the lock.
final class SeccompProgramCache: Sendable {
    private struct Key: Hashable {
        let language: StubLanguage
        let defaultAction: SandboxPolicy.DefaultAction
        let supervised: Bool
    }

    private let programs = Mutex<[Key: SeccompProgram]>([:])

    func program(for policy: SandboxPolicy) throws(SandboxError) -> SeccompProgram {
        let key = Key(language: policy.language, defaultAction: policy.defaultAction, supervised: policy.isolation != nil)
        return try programs.withLock { programs throws(SandboxError) -> SeccompProgram in
            if let program = programs[key] { return program }
            let program = try SeccompProgram.compile(
                language: key.language, defaultAction: key.defaultAction, supervised: key.supervised)
            programs[key] = program
            return program
        }
    }
}
