/// A message `id`: an integer or a string (reTHINK uses both). Requests are matched to responses by
/// (`from`, `id`) of the request and (`to`, `id`) of the response.
public enum MessageID: Hashable, Sendable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .string(let value): return value
        }
    }

    func write(to writer: inout JSONWriter) {
        switch self {
        case .int(let value): writer.integer(value)
        case .string(let value): writer.string(value)
        }
    }
}

extension MessageID: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
}
