/// The reTHINK message types. Accepted in any case on input, always written lowercase.
public enum MessageType: String, Sendable, CaseIterable {
    case create, read, update, delete, subscribe, unsubscribe, response, forward, execute
}
