/// The first top-level fields of a message whose line is too long to parse (or cut short): its `id`,
/// `type`, `from` and `to`, when they come before the cut. An over-long request can then be refused with its
/// own id (413), and an over-long answer from a stub turned into the requester's 502 at once.
///
/// Read by the message parser's own scanner and field rules (``scan(_:)``, in Message.swift), stopping at
/// the first thing the cut leaves unfinished: a JSON parser would reject the whole truncated line.
public struct MessageHead: Sendable, Equatable {
    public var id: MessageID?
    public var type: String?
    public var from: String?
    public var to: String?

    public init(id: MessageID? = nil, type: String? = nil, from: String? = nil, to: String? = nil) {
        self.id = id
        self.type = type
        self.from = from
        self.to = to
    }
}
