import NIOCore

/// Response deadlines in arrival order. The timeout is the same for every request, so deadlines are
/// monotonic and a FIFO swept from its head replaces one scheduled timer per request.
struct TimeoutQueue {
    private var entries = CircularBuffer<(deadline: NIODeadline, key: PendingKey, serial: UInt64)>(
        initialCapacity: 1024)

    mutating func append(_ deadline: NIODeadline, key: PendingKey, serial: UInt64) {
        entries.append((deadline, key, serial))
    }

    /// Removes and returns the entries whose deadline has passed.
    mutating func expired(at now: NIODeadline) -> [(key: PendingKey, serial: UInt64)] {
        var result: [(key: PendingKey, serial: UInt64)] = []
        while let first = entries.first, first.deadline <= now {
            entries.removeFirst()
            result.append((first.key, first.serial))
        }
        return result
    }

    var count: Int { entries.count }
}
