import NIOCore
import RethinkMessages

/// A request in flight: who waits for its final response, and who is expected to give it.
final class PendingRequest {
    enum Target {
        /// Waiting in, or sent to, the domain's stub; `url` is set once it was written to a stub process.
        case stub(domain: DomainKey, url: String?)
        /// Delivered to local listeners (clients or runtime components).
        case ports([BusPort])
    }

    let key: PendingKey
    let requester: BusPort
    /// The request's `to`: the runtime's own answers come from it.
    let to: String
    var target: Target
    /// When the runtime answers 408 if nobody has answered.
    let deadline: NIODeadline
    /// Its place in the ``TimeoutQueue`` (older requests before, newer after); `older` is held by the queue's
    /// chain of `newer` links while this request is queued, and cleared when it leaves.
    unowned(unsafe) var older: PendingRequest?
    var newer: PendingRequest?
    var queued = false
    /// Waiting in its stub's queue (not yet written to the stub).
    var inStubQueue = false
    /// The meters of the domain whose stub it went to (set with `target`), where its final code is counted.
    var meters: DomainMeters?

    init(key: PendingKey, requester: BusPort, to: String, target: Target, deadline: NIODeadline) {
        self.key = key
        self.requester = requester
        self.to = to
        self.target = target
        self.deadline = deadline
    }
}

/// Requests are matched by (`from`, `id`) of the request and (`to`, `id`) of the response.
///
/// The key hashes its address once, when it is made: a request's key is hashed when it is added and when it is
/// removed, and a deletion from the table rehashes the neighbouring keys; hashing the address string each time
/// was the largest part of the table's cost in the routing profile (docs/BENCHMARK.md).
struct PendingKey: Hashable {
    let address: String
    let id: MessageID
    private let digest: Int

    init(address: String, id: MessageID) {
        self.address = address
        self.id = id
        var hasher = Hasher()
        hasher.combine(address)
        hasher.combine(id)
        digest = hasher.finalize()
    }

    static func == (lhs: PendingKey, rhs: PendingKey) -> Bool {
        lhs.digest == rhs.digest && lhs.address == rhs.address && lhs.id == rhs.id
    }

    func hash(into hasher: inout Hasher) { hasher.combine(digest) }

    /// The table's hash without running a `Hasher` per lookup: see `HashDigest.mixed(_:seed:)`.
    func _rawHashValue(seed: Int) -> Int { HashDigest.mixed(digest, seed: seed) }
}
