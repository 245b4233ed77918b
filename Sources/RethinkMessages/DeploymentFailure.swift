/// Why a stub could not be deployed: what the Runtime UA hands the bus, which answers the waiting requests
/// by its code (404 for a domain nobody publishes, 502 otherwise), and the Registry, which records its
/// ``reason``.
public typealias DeploymentFailure = RuntimeFailure<DeploymentFailureCode>

public enum DeploymentFailureCode: String, FailureCode, CaseIterable {
    /// Neither the local catalogue nor the network has a descriptor for the domain.
    case noDescriptor = "no-descriptor"
    case badDescriptor = "bad-descriptor", badPackage = "bad-package", integrity, unsupported
    case spawn, handshake, credentials
    /// No answer to the deploy message (or no `live`) in time.
    case timedOut = "timed-out"
}

extension RuntimeFailure where Code == DeploymentFailureCode {
    /// The status reason a deployment that failed this way carries.
    public var reason: StatusReason {
        switch code {
        case .noDescriptor: return .noDescriptor
        case .credentials: return .authenticationFailed
        case .spawn: return .spawnFailed
        case .timedOut: return .timedOut
        case .handshake: return .handshakeFailed
        case .badDescriptor, .badPackage, .integrity, .unsupported: return .refusedPackage
        }
    }

    /// The code a request waiting for this deployment is answered with.
    public var answerCode: Int {
        switch code {
        case .noDescriptor: return 404
        default: return 502
        }
    }
}
