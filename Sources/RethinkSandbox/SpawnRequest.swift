/// Everything needed to start one stub, spelled out: nothing is taken from the daemon's own
/// environment, so what a stub sees does not depend on how the daemon was started.
public struct SpawnRequest: Sendable {
    /// Absolute path of the program to run (no `PATH` lookup).
    public var executable: String
    /// `argv`, `argv[0]` included.
    public var arguments: [String]
    /// The complete environment. Give at least PATH, HOME and LANG: without HOME, Python asks
    /// NSS for the passwd entry, which may connect to the nscd socket.
    public var environment: [String: String]
    /// The stub's working directory.
    public var workingDirectory: String
    /// What the stub may do once it runs.
    public var policy: SandboxPolicy

    public init(
        executable: String,
        arguments: [String],
        environment: [String: String],
        workingDirectory: String,
        policy: SandboxPolicy
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.policy = policy
    }
}
