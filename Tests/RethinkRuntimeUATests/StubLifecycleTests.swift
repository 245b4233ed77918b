import RethinkMessages
import RethinkSandbox
import Synchronization
import Testing

@testable import RethinkRuntimeUA

/// One stub process's states, without a process: what each exit means depends on where the stub stood, and
/// a transition its state does not allow is refused.
struct StubLifecycleTests {
    /// Records what the lifecycle tells the process.
    final class Handle: StubHandle {
        let exits = Mutex<[RethinkSandbox.ExitStatus]>([])
        let handshakeFailures = Mutex<[String]>([])
        func settle(exit status: RethinkSandbox.ExitStatus) { exits.withLock { $0.append(status) } }
        func failHandshake(_ failure: DeploymentFailure) { handshakeFailures.withLock { $0.append(failure.message) } }
    }

    static let domain = DomainKey("acme.example")!

    static func record() -> StubLifecycle<Handle> {
        StubLifecycle(domain: domain, url: "hyperty-runtime://acme.example/protostub/1")
    }

    @Test func anExitBeforeThePipesAreAttachedIsKeptAndFailsTheHandshakeOnAttach() {
        var stub = Self.record()
        guard case .beforeAttach = stub.exited(.exited(3)) else {
            Issue.record("an exit while starting is kept for the attach")
            return
        }
        let handle = Handle()
        stub.attach(handle)
        #expect(handle.exits.withLock { $0 } == [.exited(3)])
        #expect(handle.handshakeFailures.withLock { $0.first?.contains("exited with status 3") } == true)
        #expect(stub.instance == nil, "an exited stub has no instance to route to or stop")
        #expect(stub.stop() == nil)
    }

    @Test func anExitDuringTheHandshakeFailsTheDeployNotACrash() {
        var stub = Self.record()
        let handle = Handle()
        stub.attach(handle)
        #expect(!stub.isServing)
        guard case .duringHandshake = stub.exited(.signaled(31)) else {
            Issue.record("an exit before the deploy answer is a failed handshake")
            return
        }
        #expect(handle.handshakeFailures.withLock { $0.first?.contains("SIGSYS") } == true)
    }

    @Test func anExitOfAServingStubIsACrashAndIsReportedOnce() {
        var stub = Self.record()
        let handle = Handle()
        stub.attach(handle)
        stub.answered()
        #expect(stub.isServing)
        guard case .crashed = stub.exited(.exited(1)) else {
            Issue.record("a serving stub that ends on its own crashed")
            return
        }
        guard case .repeated = stub.exited(.exited(1)) else {
            Issue.record("a second report of the same exit is not a second crash")
            return
        }
        #expect(handle.exits.withLock { $0 } == [.exited(1)])
        #expect(handle.handshakeFailures.withLock { $0.isEmpty })
    }

    @Test func aStoppedStubsExitIsExpectedAndItIsStoppedOnlyOnce() {
        var stub = Self.record()
        let handle = Handle()
        stub.attach(handle)
        stub.answered()
        #expect(stub.stop() === handle)
        #expect(stub.isStopping)
        #expect(stub.stop() == nil, "stopping twice would signal a PID that may be reused")
        stub.answered()
        #expect(!stub.isServing, "a stopping stub does not go back to serving")
        guard case .expected = stub.exited(.signaled(15)) else {
            Issue.record("the exit of a stub stopped on purpose is not a crash")
            return
        }
    }

    @Test func aStubThatNeverAttachedHasNothingToStop() {
        var stub = Self.record()
        #expect(stub.stop() == nil)
        #expect(!stub.isStopping)
    }
}
