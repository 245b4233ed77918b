import RethinkMessages

/// Why a stub could not be deployed. Its `message` becomes the `desc` of status `deployment-failed`, the
/// journal entry and the 502 (or 404) the waiting requests get, so it says what to do.
public struct DeploymentError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        public static let noDescriptor = Code(name: "no-descriptor")
        public static let badDescriptor = Code(name: "bad-descriptor")
        public static let badPackage = Code(name: "bad-package")
        public static let integrity = Code(name: "integrity")
        public static let spawn = Code(name: "spawn")
        public static let handshake = Code(name: "handshake")
        /// No answer to the deploy message (or no `live`) in time.
        public static let timedOut = Code(name: "timed-out")
        public static let unsupported = Code(name: "unsupported")
        public static let credentials = Code(name: "credentials")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

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
}
