import NIOCore
import RethinkBus
import RethinkCatalogue
import RethinkMessages
import RethinkSandbox

/// One running stub process and its pipes.
final class StubInstance: Sendable {
    let domain: DomainKey
    let url: String
    let process: SandboxedProcess
    let port: BusPort
    let dataChannel: Channel
    let logChannel: Channel
    let handshake: OnceBox<Message>
    let exited: OnceBox<ExitStatus>

    init(
        domain: DomainKey, url: String, process: SandboxedProcess, port: BusPort,
        dataChannel: Channel,
        logChannel: Channel, handshake: OnceBox<Message>, exited: OnceBox<ExitStatus>
    ) {
        self.domain = domain
        self.url = url
        self.process = process
        self.port = port
        self.dataChannel = dataChannel
        self.logChannel = logChannel
        self.handshake = handshake
        self.exited = exited
    }
}

extension StubInstance: StubHandle {
    func settle(exit status: ExitStatus) { exited.complete(status) }
    func failHandshake(_ failure: DeploymentFailure) { handshake.fail(failure) }
}

extension ExitStatus {
    /// How a stub's end reads in a status `desc` and a 502.
    var stubReason: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(31): return "was killed by SIGSYS (it made a system call the sandbox refuses)"
        case .signaled(9): return "was killed by SIGKILL"
        case .signaled(let signal): return "was killed by signal \(signal)"
        }
    }
}
