import Foundation
import RethinkClient
import RethinkMessages

extension RuntimeClient {
    /// Collects up to `count` messages that match, waiting at most `seconds` in all.
    public func collect(_ count: Int, seconds: Double = 10, where include: (Message) -> Bool = { _ in true }) async
        -> [Message]
    {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var result: [Message] = []
        while result.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let message = await next(timeout: left) else { break }
            if include(message) { result.append(message) }
        }
        return result
    }
}
