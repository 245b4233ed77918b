import Logging
import NIOCore
import NIOEmbedded
import RethinkBus
import RethinkMessages
import Synchronization

/// A MessageBus on NIO's `EmbeddedEventLoop`: time moves only when a test advances it, and ports are plain
/// closures that record what they are sent. No process, no socket.
final class BusHarness {
    let loop = EmbeddedEventLoop()
    let bus: MessageBus
    let delegate = RecordingDelegate()
    let addresses = RuntimeAddresses(runtimeDomain: "localhost", runtimeID: "test")
    private var clients = 0

    init(configure: (inout BusConfiguration) -> Void = { _ in }) {
        var configuration = BusConfiguration()
        configure(&configuration)
        bus = MessageBus(eventLoop: loop, addresses: addresses, configuration: configuration, logger: Logger(label: "bus"))
        bus.delegate = delegate
        bus.start()
    }

    /// A port that keeps what it is delivered.
    final class Port {
        let port: BusPort
        private(set) var received: [Message] = []

        init(kind: BusPort.Kind) {
            var box: Port?
            port = BusPort(kind: kind, deliver: { message, _ in box?.received.append(message) }, flush: {})
            box = self
        }

        var responses: [Message] { received.filter { $0.type == .response } }
    }

    func client() -> Port {
        clients += 1
        let client = Port(kind: .client(number: clients, url: addresses.client(clients)))
        bus.attach(client.port)
        return client
    }

    /// A stub for `domain`, attached and (unless `live` is false) live.
    func stub(_ domain: String, number: Int = 1, live: Bool = true, idle: TimeAmount? = nil) -> Port {
        let key = DomainKey(domain)!
        let url = RuntimeAddresses.stubURL(domain: key, number: number)
        let stub = Port(kind: .stub(domain: key, url: url))
        bus.stubAttached(stub.port, domain: key, url: url, idleTimeout: idle)
        if live { bus.setStatus(.live, of: key, stub: url, desc: nil) }
        return stub
    }

    /// Routes a request from `client` and flushes, as a connection's batch would end.
    @discardableResult
    func request(_ id: Int64, from client: Port, to address: String, type: MessageType = .read) -> Message {
        let message = Message.make(id: .int(id), type: type, from: client.port.url, to: address)
        bus.route(message, from: client.port)
        bus.flush()
        return message
    }

    func advance(_ amount: TimeAmount) {
        loop.advanceTime(by: amount)
    }
}

final class RecordingDelegate: BusDelegate {
    let needed = Mutex<[DomainKey]>([])
    let idle = Mutex<[String]>([])

    func bus(_ bus: MessageBus, needsStubFor domain: DomainKey) { needed.withLock { $0.append(domain) } }
    func bus(_ bus: MessageBus, stub url: String, of domain: DomainKey, reported status: StubStatus, desc: String?) {}
    func bus(_ bus: MessageBus, stubExceededViolations url: String, of domain: DomainKey) {}
    func bus(_ bus: MessageBus, stubIdle url: String, of domain: DomainKey) { idle.withLock { $0.append(url) } }
}
