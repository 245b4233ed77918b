import NIOCore

/// Requests in flight in deadline order. The timeout is the same for every request, so deadlines are
/// monotonic: a list swept from its oldest end replaces one scheduled timer per request. It is linked
/// through the requests themselves, so an answered request leaves it at once (O(1)) and memory follows the
/// requests in flight, not rate × timeout.
///
/// The backward links (`newest`, each request's `older`) are unowned: every queued request is held by the
/// chain of `newer` links from `oldest`, and `remove` clears both links of a request it takes out. Weak links
/// cost a side table per request (a tenth of the queue's share of the routing profile, docs/BENCHMARK.md).
struct TimeoutQueue {
    private var oldest: PendingRequest?
    private unowned(unsafe) var newest: PendingRequest?
    private(set) var count = 0

    mutating func append(_ request: PendingRequest) {
        guard !request.queued else { return }
        request.queued = true
        request.older = newest
        if let newest { newest.newer = request } else { oldest = request }
        newest = request
        count += 1
    }

    /// Takes `request` out, wherever it is; nothing when it is not queued.
    mutating func remove(_ request: PendingRequest) {
        guard request.queued else { return }
        request.queued = false
        let older = request.older
        let newer = request.newer
        if let older { older.newer = newer } else { oldest = newer }
        if let newer { newer.older = older } else { newest = older }
        request.older = nil
        request.newer = nil
        count -= 1
    }

    /// Removes and returns the requests whose deadline has passed, oldest first.
    mutating func expired(at now: NIODeadline) -> [PendingRequest] {
        var result: [PendingRequest] = []
        while let first = oldest, first.deadline <= now {
            remove(first)
            result.append(first)
        }
        return result
    }
}
