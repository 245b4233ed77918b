/// The journal cannot be used; the message says why (the daemon then logs to stderr).
public struct JournalError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
