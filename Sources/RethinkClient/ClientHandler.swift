import NIOCore
import RethinkMessages
import Synchronization

/// Frames the runtime's lines and hands them on: the greeting, responses to waiting requests, the rest.
final class ClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var framer = LineFramer(maxLineBytes: 64 << 20)
    let inbox: Inbox
    let greeting: GreetingBox
    private var greeted = false
    weak var client: RuntimeClient?

    init(inbox: Inbox, greeting: GreetingBox) {
        self.inbox = inbox
        self.greeting = greeting
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A line over the limit (64 MiB, far above any runtime's) or one that is not a message is skipped.
        unwrapInboundIn(data).withUnsafeReadableBytes { bytes in
            framer.feedMessages(bytes, line: take, oversized: { _ in })
        }
    }

    private func take(_ line: [UInt8]) {
        guard let message = try? Message.parse(line) else { return }
        if !greeted {
            greeted = true
            greeting.set(message)
            return
        }
        if client?.resolve(message) == true { return }
        inbox.put(message)
    }

    func channelInactive(context: ChannelHandlerContext) {
        greeting.fail()
        client?.connectionClosed()
        inbox.close()
    }
}

/// The first line, awaited by `connect`.
final class GreetingBox: Sendable {
    private let state = Mutex<(Message?, Error?, CheckedContinuation<Message, Error>?)>((nil, nil, nil))

    func set(_ message: Message) {
        let waiter = state.withLock { state -> CheckedContinuation<Message, Error>? in
            state.0 = message
            defer { state.2 = nil }
            return state.2
        }
        waiter?.resume(returning: message)
    }

    func fail(_ error: Error = RuntimeClientError("the runtime closed the connection before greeting")) {
        let waiter = state.withLock { state -> CheckedContinuation<Message, Error>? in
            if state.0 == nil, state.1 == nil { state.1 = error }
            defer { state.2 = nil }
            return state.2
        }
        waiter?.resume(throwing: error)
    }

    func wait(timeout: Duration) async throws -> Message {
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.fail(RuntimeClientError("no greeting from the runtime within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Message, Error>? in
                if let message = state.0 { return .success(message) }
                if let error = state.1 { return .failure(error) }
                state.2 = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
