/// The one shape of the modules' failures: a `code` a program switches on and a `message` a person can act
/// on (it becomes a status `desc`, a journal line, the `desc` of a 4xx/5xx answer).
///
/// Why generic: the deployment and package failures were two copies of the same struct; each family of
/// failures is now an enum of codes, and `error as? DeploymentFailure` still tells the families apart.
public struct RuntimeFailure<Code: FailureCode>: Error, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The codes of one family of ``RuntimeFailure``s: a string enum, whose raw value is what logs print.
public protocol FailureCode: RawRepresentable<String>, Hashable, Sendable, CustomStringConvertible {}

extension FailureCode {
    public var description: String { rawValue }
}
