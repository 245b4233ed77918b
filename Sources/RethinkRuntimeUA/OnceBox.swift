import NIOCore

/// A value set once, awaited once: the handshake answer, or the reason there will be none.
final class OnceBox<Value: Sendable>: @unchecked Sendable {
    private let promise: EventLoopPromise<Value>
    private var done = false

    init(eventLoop: EventLoop) {
        promise = eventLoop.makePromise()
    }

    /// Completes at once; call on the promise's loop. Returns false when it was already completed.
    func completeOnLoop(_ value: Value) -> Bool {
        promise.futureResult.eventLoop.preconditionInEventLoop()
        guard !done else { return false }
        done = true
        promise.succeed(value)
        return true
    }

    /// Completes on the promise's loop; later completions are ignored.
    func complete(_ value: Value) {
        promise.futureResult.eventLoop.execute {
            guard !self.done else { return }
            self.done = true
            self.promise.succeed(value)
        }
    }

    func fail(_ error: Error) {
        promise.futureResult.eventLoop.execute {
            guard !self.done else { return }
            self.done = true
            self.promise.fail(error)
        }
    }

    var value: EventLoopFuture<Value> { promise.futureResult }
}
