import RethinkMessages
import Synchronization

/// Messages that arrived and were not taken yet, for one consumer that may wait with a timeout.
///
/// Why not an `AsyncStream`: giving up on a wait (a timeout) cancels the consuming task, and a cancelled
/// `AsyncStream` iteration ends the stream for good.
final class Inbox: Sendable {
    private struct State {
        var buffer: [Message] = []
        var head = 0
        var waiter: (token: UInt64, continuation: CheckedContinuation<Message?, Never>)?
        var nextToken: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())

    func put(_ message: Message) {
        let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.buffer.append(message)
            return nil
        }
        waiter?.resume(returning: message)
    }

    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    /// The next message; nil when the connection closed or `timeout` passed first.
    func next(timeout: Duration?) async -> Message? {
        let token = state.withLock { state -> UInt64 in
            state.nextToken += 1
            return state.nextToken
        }
        let timer = timeout.map { timeout in
            Task {
                try await Task.sleep(for: timeout)
                self.expire(token)
            }
        }
        defer { timer?.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Message?? in
                if state.head < state.buffer.count {
                    let message = state.buffer[state.head]
                    state.head += 1
                    if state.head > 1024, state.head * 2 > state.buffer.count {
                        state.buffer.removeFirst(state.head)
                        state.head = 0
                    }
                    return .some(message)
                }
                if state.closed { return .some(nil) }
                state.waiter = (token, continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func expire(_ token: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
            guard let waiter = state.waiter, waiter.token == token else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: nil)
    }
}
