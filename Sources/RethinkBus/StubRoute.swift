import NIOCore
import RethinkMessages

/// The bus's view of one domain's stub: where its traffic goes right now, and what waits for it.
final class StubRoute {
    let domain: DomainKey
    var stubURL: String?
    var port: BusPort?
    var status: StubStatus = .deploying
    /// Messages waiting while the stub deploys or redeploys, in arrival order.
    /// Room for one at first: most routes never queue (the stub is live), and a route per unknown domain
    /// must cost little (it grows as messages wait).
    var queue = CircularBuffer<QueuedMessage>(initialCapacity: 1)
    /// Requests in `queue` that already got their final response (408 while the stub was stalled): they hold
    /// a place until the queue drains, or until a full queue is compacted.
    var answeredInQueue = 0
    /// Set after `deployment-failed` or `failed`: the answer messages get until `until`.
    var failure: (code: Int, desc: String, until: NIODeadline)?
    var violations: [NIODeadline] = []
    var messagesToStub: UInt64 = 0
    var messagesFromStub: UInt64 = 0
    /// Its descriptor's idle time, if it sets one (`.zero`: never idle); else the bus's.
    var idleTimeout: TimeAmount?
    /// Address prefixes the stub declared multi-party (an IRC channel): a message to one of them from this
    /// runtime goes to the network through the stub, and a copy to each local listener.
    var multiParty: [String] = []
    /// Multi-party prefixes whose network delivers a message back to every subscriber, this runtime's
    /// included (an MQTT broker): the message goes to the stub only, and the listeners get it from there.
    var echoed: [String] = []

    /// How a message to `address`, which local clients listen on, also reaches the network; nil: it does not.
    func fanOut(of address: String) -> FanOut? {
        if multiParty.contains(where: { address.hasPrefix($0) }) { return .copies }
        if echoed.contains(where: { address.hasPrefix($0) }) { return .echoedByNetwork }
        return nil
    }

    enum FanOut { case copies, echoedByNetwork }
    /// The message counters at the last idle sweep, and since when they have not moved.
    var lastActivity: UInt64 = 0
    var quietSince: NIODeadline = .now()
    /// Reported idle to the Runtime UA, which has not answered yet.
    var idleReported = false
    /// Set once a stub serves the domain (an unknown domain's route has none: see ``BusMetrics``).
    var meters: DomainMeters?

    init(domain: DomainKey) {
        self.domain = domain
    }

    var canDeliver: Bool { port?.isWritable == true && status.acceptsTraffic }

    /// Messages it carried either way: the idle sweep watches this move.
    var activity: UInt64 { messagesToStub &+ messagesFromStub }

    /// One message delivered to the stub: the listing's counter and the metrics' together.
    func countToStub() {
        messagesToStub &+= 1
        meters?.toStub.increment()
    }

    /// One message taken from the stub.
    func countFromStub() {
        messagesFromStub &+= 1
        meters?.fromStub.increment()
    }
}

struct QueuedMessage {
    let message: Message
    let sender: BusPort
}

/// Traffic counters of one stub, for the registry listing.
public struct StubCounters: Sendable {
    public let toStub: UInt64
    public let fromStub: UInt64
    public let queued: Int
}
