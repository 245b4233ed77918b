/// Why a stub could not be deployed: what the Runtime UA hands the bus, which answers the waiting requests
/// by its code (404 for a domain nobody publishes, 502 otherwise), and the Registry, which records its
/// ``reason``.
public typealias DeploymentFailure = RuntimeFailure<DeploymentFailureKind>

public enum DeploymentFailureKind: FailureKind {}

extension RuntimeFailure.Code where Kind == DeploymentFailureKind {
    /// Neither the local catalogue nor the network has a descriptor for the domain.
    public static var noDescriptor: Self { Self("no-descriptor") }
    public static var badDescriptor: Self { Self("bad-descriptor") }
    public static var badPackage: Self { Self("bad-package") }
    public static var integrity: Self { Self("integrity") }
    public static var spawn: Self { Self("spawn") }
    public static var handshake: Self { Self("handshake") }
    /// No answer to the deploy message (or no `live`) in time.
    public static var timedOut: Self { Self("timed-out") }
    public static var unsupported: Self { Self("unsupported") }
    public static var credentials: Self { Self("credentials") }
}

extension RuntimeFailure where Kind == DeploymentFailureKind {
    /// The status reason a deployment that failed this way carries.
    public var reason: StatusReason {
        switch code {
        case .noDescriptor: return .noDescriptor
        case .credentials: return .authenticationFailed
        case .spawn: return .spawnFailed
        case .timedOut: return .timedOut
        case .handshake: return .handshakeFailed
        default: return .refusedPackage
        }
    }

    /// The code a request waiting for this deployment is answered with.
    public var answerCode: Int { code == .noDescriptor ? 404 : 502 }
}
