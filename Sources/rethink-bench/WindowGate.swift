import Foundation

/// Keeps at most `window` requests in flight: the writer waits here for room, the reader reports answers
/// once per chunk it reads (not per answer), so a woken writer usually finds room for a whole batch.
final class WindowGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var completed = 0
    private var failure: Error?
    private var finished = false

    /// Waits until fewer than `window` of the `sent` requests are unanswered; returns how many more may go,
    /// or throws the reader's failure.
    func room(sent: Int, window: Int) throws -> Int {
        condition.lock()
        defer { condition.unlock() }
        while sent - completed >= window && failure == nil && !finished { condition.wait() }
        if let failure { throw failure }
        return window - (sent - completed)
    }

    func answered(_ count: Int) {
        condition.lock()
        completed += count
        condition.signal()
        condition.unlock()
    }

    func fail(_ error: Error) {
        condition.lock()
        failure = error
        condition.signal()
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    /// Waits until the reader has finished or failed; throws its failure.
    func waitForReader() throws {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil && !finished { condition.wait() }
        if let failure { throw failure }
    }
}
