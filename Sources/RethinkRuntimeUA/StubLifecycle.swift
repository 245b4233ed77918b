import RethinkCatalogue
import RethinkMessages
import RethinkSandbox

/// One stub process from its spawn to its exit, with every transition of its life written here.
///
/// Why: the Runtime UA used to know where a stub stood by which of seven collections held its URL
/// (handshaking, stopping, early exits...), and each race fixed lived between two of them. Now it asks the
/// record what an event means (``exited(_:)`` says whether an exit is a crash) and the record refuses a
/// transition its state does not allow.
///
/// Generic over the process handle so that its transitions are pinned by unit tests without a process; the
/// Runtime UA's is ``StubInstance``.
struct StubLifecycle<Instance: StubHandle> {
    private enum State {
        /// Spawned (or being spawned); its pipes are not attached yet. An exit that comes this early is kept
        /// for the deploy to read when it attaches them.
        case starting(exit: ExitStatus?)
        /// Attached; the deploy message is sent and not answered yet. An exit fails the deploy.
        case handshaking(Instance)
        /// It answered its deploy message: an exit from here on is a crash.
        case serving(Instance)
        /// Stopped on purpose (undeploy, idle, replaced, a failed deploy, violations): its exit is expected.
        case stopping(Instance)
        case exited(ExitStatus)
    }

    /// What an exit means, decided by the state it found the stub in.
    enum Exit {
        /// Before its pipes were attached: the deploy reads it from ``attach(_:)``.
        case beforeAttach
        /// During the handshake: the deploy fails.
        case duringHandshake(Instance)
        /// A serving stub ended on its own.
        case crashed(Instance)
        /// A stub being stopped ended, as asked.
        case expected(Instance)
        /// A second report of the same exit.
        case repeated
    }

    let domain: DomainKey
    let url: String
    private var state: State = .starting(exit: nil)

    init(domain: DomainKey, url: String) {
        self.domain = domain
        self.url = url
    }

    /// The process and its pipes, once attached and until it exits.
    var instance: Instance? {
        switch state {
        case .handshaking(let instance), .serving(let instance), .stopping(let instance): return instance
        case .starting, .exited: return nil
        }
    }

    /// It answered its deploy message and is not being stopped: traffic may go to it.
    var isServing: Bool {
        if case .serving = state { return true }
        return false
    }

    var isStopping: Bool {
        if case .stopping = state { return true }
        return false
    }

    /// starting → handshaking. An exit that came first is settled on the instance at once (its handshake
    /// fails, `exited` completes) and the stub is left `exited`.
    mutating func attach(_ instance: Instance) {
        guard case .starting(let early) = state else { return }
        guard let early else {
            state = .handshaking(instance)
            return
        }
        instance.settle(exit: early)
        instance.failHandshake(Self.endedBeforeAnswering(early))
        state = .exited(early)
    }

    private static func endedBeforeAnswering(_ status: ExitStatus) -> DeploymentFailure {
        DeploymentFailure(.handshake, "the stub \(status.stubReason) before answering the deploy message")
    }

    /// handshaking → serving: it answered its deploy message with 200.
    mutating func answered() {
        guard case .handshaking(let instance) = state else { return }
        state = .serving(instance)
    }

    /// → stopping. Returns the instance to stop, or nil when there is none (not attached, already stopping or
    /// gone): stopping it twice would signal a PID that may be reused.
    mutating func stop() -> Instance? {
        switch state {
        case .handshaking(let instance), .serving(let instance):
            state = .stopping(instance)
            return instance
        case .starting, .stopping, .exited:
            return nil
        }
    }

    /// → exited, saying what the exit means; the instance's `exited` is completed here.
    mutating func exited(_ status: ExitStatus) -> Exit {
        switch state {
        case .starting:
            state = .starting(exit: status)
            return .beforeAttach
        case .handshaking(let instance):
            state = .exited(status)
            instance.settle(exit: status)
            instance.failHandshake(Self.endedBeforeAnswering(status))
            return .duringHandshake(instance)
        case .serving(let instance):
            state = .exited(status)
            instance.settle(exit: status)
            return .crashed(instance)
        case .stopping(let instance):
            state = .exited(status)
            instance.settle(exit: status)
            return .expected(instance)
        case .exited:
            return .repeated
        }
    }
}

/// What a ``StubLifecycle`` tells the process it tracks: that it exited (so that a stop waiting for it
/// resumes), and that its handshake failed (so that the deploy waiting for the answer resumes).
protocol StubHandle: Sendable {
    func settle(exit status: ExitStatus)
    func failHandshake(_ failure: DeploymentFailure)
}

/// The Runtime UA's record of one stub process.
typealias StubRecord = StubLifecycle<StubInstance>
