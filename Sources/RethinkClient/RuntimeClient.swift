import Foundation
import NIOCore
import NIOPosix
import RethinkMessages
import Synchronization

/// A connection to rethink-runtimed's client socket (SPEC section 5), for applications, `rethinkctl` and
/// tests: read the greeting, send messages, await responses, receive what arrives for the addresses
/// listened on.
public final class RuntimeClient: Sendable {
    /// What the runtime says on connect.
    public struct Greeting: Sendable {
        public let runtimeURL: String
        public let clientURL: String
        public let version: String
        public let maxMessageBytes: Int
    }

    public let greeting: Greeting
    private let inbox: Inbox
    private let channel: Channel
    private let state: Mutex<State>

    struct State {
        var nextID: Int64 = 1
        var waiters: [MessageID: CheckedContinuation<Message, Error>] = [:]
        var answered: Set<MessageID> = []
        var duplicates = 0
        var closed = false
    }

    private init(channel: Channel, greeting: Greeting, inbox: Inbox) {
        self.channel = channel
        self.greeting = greeting
        self.inbox = inbox
        self.state = Mutex(State())
    }

    /// Connects and waits for the greeting.
    public static func connect(socketPath: String, timeout: Duration = .seconds(10)) async throws -> RuntimeClient {
        let handler = ClientHandler(inbox: Inbox(), greeting: GreetingBox())
        // In the initializer: the runtime greets at once, and a line read before the handler is there is lost.
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(unixDomainSocketPath: socketPath).get()
        return try await greeted(on: channel, by: handler, timeout: timeout)
    }

    /// Speaks the client protocol on a channel of the caller's (the unit tests' testing channel).
    static func attach(to channel: Channel, timeout: Duration) async throws -> RuntimeClient {
        let handler = ClientHandler(inbox: Inbox(), greeting: GreetingBox())
        try await channel.pipeline.addHandler(handler)
        return try await greeted(on: channel, by: handler, timeout: timeout)
    }

    /// Waits for the greeting `handler` reads on `channel` and returns the client.
    private static func greeted(on channel: Channel, by handler: ClientHandler, timeout: Duration) async throws
        -> RuntimeClient
    {
        let first = try await handler.greeting.wait(timeout: timeout)
        guard let value = first.bodyValue, let runtimeURL = value["runtimeURL"]?.stringValue,
            let clientURL = value["clientURL"]?.stringValue
        else {
            try? await channel.close()
            throw RuntimeClientError("the runtime's first line was not a greeting: \(first.text)")
        }
        let greeting = Greeting(
            runtimeURL: runtimeURL, clientURL: clientURL, version: value["version"]?.stringValue ?? "?",
            maxMessageBytes: Int(value["maxMessageBytes"]?.intValue ?? 0))
        let client = RuntimeClient(channel: channel, greeting: greeting, inbox: handler.inbox)
        handler.client = client
        return client
    }

    /// The next message that is not the final response to a `request` made on this client; nil when the
    /// connection closed, or when `timeout` passed first.
    public func next(timeout: Duration? = nil) async -> Message? {
        await inbox.next(timeout: timeout)
    }

    /// Writes one line as it is (tests use this for bad input).
    public func sendLine(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        try await channel.writeAndFlush(buffer)
    }

    public func send(_ message: Message) async throws {
        if let id = message.id, message.type != .response {
            // The id is in use again: its next final response is not a duplicate.
            _ = state.withLock { $0.answered.remove(id) }
        }
        try await sendLine(message.bytes)
    }

    /// A fresh integer id for a request.
    public func nextID() -> MessageID {
        state.withLock { state in
            defer { state.nextID += 1 }
            return .int(state.nextID)
        }
    }

    /// Sends a request with a fresh `id` (from this client's URL unless `from` is given) and returns its
    /// final response.
    public func request(
        _ type: MessageType, to: String, from: String? = nil, body: JSONValue? = nil, timeout: Duration = .seconds(30)
    ) async throws -> Message {
        let id = nextID()
        let message = Message.make(id: id, type: type, from: from ?? greeting.clientURL, to: to, body: body)
        return try await request(message, timeout: timeout)
    }

    /// Sends a request that carries an `id` and returns its final response.
    public func request(_ message: Message, timeout: Duration = .seconds(30)) async throws -> Message {
        guard let id = message.id else { throw RuntimeClientError("a request needs an id") }
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.abandon(id, RuntimeClientError("no response to request \(id) within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let closed = state.withLock { state -> Bool in
                if state.closed { return true }
                state.waiters[id] = continuation
                return false
            }
            if closed {
                continuation.resume(throwing: RuntimeClientError("the connection is closed"))
                return
            }
            Task {
                do {
                    try await self.send(message)
                } catch {
                    self.abandon(id, error)
                }
            }
        }
    }

    private func abandon(_ id: MessageID, _ error: Error) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume(throwing: error)
    }

    /// Listens on addresses (a `subscribe` to `<runtimeURL>/bus`); returns the runtime's answer.
    public func listen(_ addresses: [String]) async throws -> Message {
        try await request(
            .subscribe, to: greeting.runtimeURL + "/bus", body: ["subscribe": .array(addresses.map { .string($0) })])
    }

    public func close() async {
        try? await channel.close()
    }

    /// Hands a final response to the request waiting for it; returns false when none waits.
    func resolve(_ message: Message) -> Bool {
        guard message.type == .response, message.isFinalResponse, let id = message.id else {
            return false
        }
        let (waiter, duplicate) = state.withLock { state -> (CheckedContinuation<Message, Error>?, Bool) in
            if let waiter = state.waiters.removeValue(forKey: id) {
                state.answered.insert(id)
                return (waiter, false)
            }
            guard state.answered.contains(id) else { return (nil, false) }
            state.duplicates += 1
            return (nil, true)
        }
        waiter?.resume(returning: message)
        return waiter != nil || duplicate
    }

    /// Final responses that arrived for a `request` already answered: the runtime promises exactly one,
    /// so anything but 0 is a bug worth reporting.
    public var duplicateFinalResponses: Int { state.withLock { $0.duplicates } }

    func connectionClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: RuntimeClientError("the runtime closed the connection")) }
    }
}

/// A client-side failure: no connection, no greeting, no response in time.
public struct RuntimeClientError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
