/// Something a test starts and must have stopped before it ends: a daemon, a server, a child process.
public protocol TestTeardown: Sendable {
    func stop() async
}

/// Runs `body` with `resource`, then stops it, awaited, whether `body` returned or threw.
///
/// Why: Swift has no `await` in `defer`, and the `defer { Task { await runtime.stop() } }` the tests used
/// let a finished test's daemon and stubs go down while the next tests ran, competing with them for the
/// machine and hiding a stop that hangs.
public func using<Resource: TestTeardown>(
    _ resource: Resource, _ body: (Resource) async throws -> Void
) async throws {
    do {
        try await body(resource)
    } catch {
        await resource.stop()
        throw error
    }
    await resource.stop()
}
