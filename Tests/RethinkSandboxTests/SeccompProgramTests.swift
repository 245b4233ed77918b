import Testing

@testable import RethinkSandbox

/// The compiled filters themselves.
struct SeccompProgramTests {
    @Test(arguments: StubLanguage.allCases, [SandboxPolicy.DefaultAction.errno, .kill])
    func everyPolicyCompilesWithinTheKernelLimit(language: StubLanguage, action: SandboxPolicy.DefaultAction) throws {
        let program = try SeccompProgram.compile(language: language, defaultAction: action)

        #expect(program.bytes.count % 8 == 0)
        #expect(program.instructionCount > 20)
        #expect(program.instructionCount <= 4096)
        print("\(language.rawValue)/\(action.rawValue): \(program.instructionCount) BPF instructions")
    }

    @Test func cacheCompilesEachPolicyOnce() throws {
        let cache = SeccompProgramCache()
        let first = try cache.program(for: .forLanguage(.python))
        let second = try cache.program(for: .forLanguage(.python, limits: ResourceLimits(openFiles: 16)))
        let kill = try cache.program(for: .forLanguage(.python, defaultAction: .kill))

        _ = try cache.program(for: .forLanguage(.python))
        #expect(first.bytes == second.bytes)
        #expect(first.bytes != kill.bytes)
        #expect(cache.compiledPrograms == 2, "python/errno once (limits are not part of the filter), python/kill once")
    }
}
