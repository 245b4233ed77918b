/// The one shape of the modules' failures: a `code` a program switches on and a `message` a person can act
/// on (it becomes a status `desc`, a journal line, the `desc` of a 4xx/5xx answer).
///
/// Why generic: the deployment and package failures were two copies of the same struct; each kind of failure
/// is now a `Kind` with its codes in an extension, and `error as? DeploymentFailure` still tells them apart.
public struct RuntimeFailure<Kind: FailureKind>: Error, Sendable, CustomStringConvertible {
    /// An opaque code, so that new ones can be added without breaking callers; its name is what logs print.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A family of ``RuntimeFailure``s (deployment, package...): an empty enum that names it.
public protocol FailureKind: Sendable {}
