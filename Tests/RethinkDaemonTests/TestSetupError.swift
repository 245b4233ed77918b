/// A failure of the test's own machinery (a helper program, a server that did not start), with what went wrong.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
