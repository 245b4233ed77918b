/// A failure of the test's own machinery (a helper program, a server that did not start), with what went wrong.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
