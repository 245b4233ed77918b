import Synchronization

/// Compiled filters by (language, default action): a policy is compiled once per daemon, not
/// once per stub. Compiling takes about a millisecond, so it happens under the lock.
final class SeccompProgramCache: Sendable {
    private struct Key: Hashable {
        let language: StubLanguage
        let defaultAction: SandboxPolicy.DefaultAction
    }

    private let programs = Mutex<[Key: SeccompProgram]>([:])
    private let supervisionProgram = Mutex<SeccompProgram?>(nil)
    /// How many allowlists were compiled (the tests check that each policy is compiled once).
    private let compilations = Mutex(0)
    var compiledPrograms: Int { compilations.withLock { $0 } }

    /// The supervision filter every confined stub gets before its allowlist, compiled once.
    func supervision() throws(SandboxError) -> SeccompProgram {
        try supervisionProgram.withLock { cached throws(SandboxError) -> SeccompProgram in
            if let cached { return cached }
            let program = try SeccompProgram.compileSupervision()
            cached = program
            return program
        }
    }

    func program(for policy: SandboxPolicy) throws(SandboxError) -> SeccompProgram {
        // A supervised stub's network calls are notified by a filter of its own (supervision()): its allowlist
        // is an unsupervised one's, so one program serves both.
        let key = Key(language: policy.language, defaultAction: policy.defaultAction)
        return try programs.withLock { programs throws(SandboxError) -> SeccompProgram in
            if let program = programs[key] { return program }
            let program = try SeccompProgram.compile(language: key.language, defaultAction: key.defaultAction)
            compilations.withLock { $0 += 1 }
            programs[key] = program
            return program
        }
    }
}
