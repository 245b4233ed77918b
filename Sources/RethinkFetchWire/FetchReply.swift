/// What `rethink-fetch` answers: one JSON line on its stdout, then `bodyBytes` bytes of body.
public struct FetchReply: Codable, Sendable, Equatable {
    /// Why a GET produced no response. `unreachable` and `timedOut` mean "try the next place".
    public enum Failure: String, Codable, Sendable {
        case unreachable, timedOut, refused, tooLarge
    }

    /// The HTTP status, when a response came.
    public var status: Int?
    /// The `Location` header of a redirect.
    public var location: String?
    /// How many bytes of body follow the line.
    public var bodyBytes: Int?
    /// Set when no response came.
    public var failure: Failure?
    /// What went wrong, for the operator.
    public var description: String?

    public init(status: Int, location: String?, bodyBytes: Int) {
        self.status = status
        self.location = location
        self.bodyBytes = bodyBytes
    }

    public init(failure: Failure, description: String) {
        self.failure = failure
        self.description = description
    }

    /// The statuses that redirect: the fetcher sends no body with them, the daemon follows their `location`.
    public static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

    /// The longest reply line the daemon reads before the body.
    public static let maximumLineBytes = 16 << 10
}
