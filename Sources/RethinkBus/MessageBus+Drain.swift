import NIOCore
import RethinkMessages

/// Someone waiting for requests to be answered: all of them (a shutdown), or those a stub owes (a stub
/// retired by a live upgrade).
final class DrainWaiter {
    let stubURL: String?
    var left: Int
    let promise: EventLoopPromise<Void>
    var timer: Scheduled<Void>?

    init(stubURL: String?, left: Int, promise: EventLoopPromise<Void>) {
        self.stubURL = stubURL
        self.left = left
        self.promise = promise
    }
}

extension MessageBus {
    /// Succeeds once no request waits for its final response (`stubURL` nil) or none of those sent to the stub
    /// at `stubURL` does, or at `deadline`, whichever comes first. Driven by the answers as they pass, not by
    /// polling; the data path pays one `isEmpty` check while nobody waits. On the loop.
    public func whenDrained(of stubURL: String? = nil, deadline: NIODeadline) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let left = stubURL.map(outstandingRequests(of:)) ?? pending.count
        guard left > 0 else {
            promise.succeed(())
            return promise.futureResult
        }
        let waiter = DrainWaiter(stubURL: stubURL, left: left, promise: promise)
        waiter.timer = eventLoop.scheduleTask(deadline: deadline) { [weak self] in self?.endDrainWait(waiter) }
        drainWaiters.append(waiter)
        return promise.futureResult
    }

    /// A request is over: the waiters it concerns count it.
    func drainCount(_ request: PendingRequest) {
        var done: [DrainWaiter] = []
        for waiter in drainWaiters {
            if let url = waiter.stubURL {
                guard case .stub(_, let target) = request.target, target == url else { continue }
                waiter.left -= 1
            } else {
                waiter.left = pending.count
            }
            if waiter.left <= 0 { done.append(waiter) }
        }
        for waiter in done { endDrainWait(waiter) }
    }

    private func endDrainWait(_ waiter: DrainWaiter) {
        guard let index = drainWaiters.firstIndex(where: { $0 === waiter }) else { return }
        drainWaiters.remove(at: index)
        waiter.timer?.cancel()
        waiter.promise.succeed(())
    }
}
