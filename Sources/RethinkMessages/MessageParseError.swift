/// Why a line could not be taken as a message. The runtime answers it with code 400 and `reason` as `desc`.
public struct MessageParseError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    /// The request's `id`, when it could be read before the error was found.
    public let id: MessageID?
    /// The `to` address, when it could be read: a runtime error answer comes `from` it.
    public let to: String?

    public var description: String { reason }
}
