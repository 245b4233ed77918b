import CoreMetrics
import FoundationEssentials
import Glibc
import NIOCore
import class Prometheus.PrometheusCollectorRegistry
import RethinkBus
import RethinkMessages

/// The daemon's metrics (docs/OPERATIONS.md, "Metrics"): one Prometheus registry per daemon, fed through
/// swift-metrics by the bus and the Runtime UA, and by the daemon for its clients and itself. Gauges that are
/// only worth reading when someone asks (queue depths, stub and daemon memory, open descriptors, loop lag) are
/// set when a scrape comes, on the bus's loop.
final class RuntimeMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let bus: BusMetrics
    let clients: ClientMeters
    private let residentMemory: Gauge
    private let openDescriptors: Gauge
    private let loopLag: Gauge
    /// The longest the loop was late since the last scrape, on the loop.
    private var worstLag: TimeAmount = .zero
    private var lagProbe: RepeatedTask?

    init() {
        // Deploys take milliseconds (a native stub) to seconds (a fetched, verified package under node).
        let deployBuckets: [Duration] = [
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10),
        ]
        let factory = DocumentedMetricsFactory(
            registry: registry, help: Self.help, durationBuckets: ["rethink_stub_deploy_duration_seconds": deployBuckets])
        bus = BusMetrics(factory: factory)
        clients = ClientMeters(factory: factory)
        residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
        openDescriptors = CoreMetrics.Gauge(label: "process_open_fds", factory: factory)
        loopLag = CoreMetrics.Gauge(label: "rethink_event_loop_lag_seconds", factory: factory)
    }

    /// Every metric's `# HELP` text; docs/OPERATIONS.md ("Metrics") says the same at more length.
    static let help: [String: String] = [
        "rethink_stub_messages_total": "Messages the bus delivered to a domain's stub (to_stub) and took from it (from_stub).",
        "rethink_requests_total": "Requests by the domain whose stub they went to (none: no stub) and final response code.",
        "rethink_stub_violations_total": "Messages a domain's stub sent against the bus's rules (dropped).",
        "rethink_stub_crashes_total": "Times a domain's stub process ended without being asked to.",
        "rethink_stub_queued_messages": "Messages waiting for a domain's stub while it deploys or reconnects.",
        "rethink_stub_deploy_duration_seconds": "Time from a deployment's start to the stub's answer to its deploy message.",
        "rethink_stub_resident_memory_bytes": "Resident memory of a domain's running stub process (0: none running).",
        "rethink_bus_deliveries_total": "Messages the bus wrote to a client, stub or runtime component.",
        "rethink_bus_runtime_answers_total": "Final responses the runtime itself gave (errors, timeouts, shutdown).",
        "rethink_client_connections_total": "Client connections accepted.",
        "rethink_clients_connected": "Client connections open.",
        "rethink_client_dropped_messages_total": "Messages dropped because their client was over its output limit.",
        "rethink_client_stall_disconnects_total": "Clients disconnected for staying over their output limit.",
        "process_resident_memory_bytes": "Resident memory of the daemon.",
        "process_open_fds": "Open file descriptors of the daemon.",
        "rethink_event_loop_lag_seconds": "The longest the bus's event loop ran a task late since the previous scrape.",
    ]

    /// Measures how late the bus's loop runs a task due every 250 ms. On the loop.
    func start(on loop: EventLoop) {
        let period = TimeAmount.milliseconds(250)
        var due = NIODeadline.now() + period
        lagProbe = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] _ in
            let now = NIODeadline.now()
            if let self, now - due > self.worstLag { self.worstLag = now - due }
            due = now + period
        }
    }

    func stop() {
        lagProbe?.cancel()
    }

    /// The text a scrape gets. `stubs`: the running stubs' PIDs.
    func render(busOn messageBus: MessageBus, stubs: [DomainKey: Int32]) async -> [UInt8] {
        let update: @Sendable () -> Void = { [self] in
            messageBus.refreshGauges()
            for meters in bus.allMeters() {
                let pid = DomainKey(meters.domain).flatMap { stubs[$0] }
                meters.residentBytes.record(pid.map { Self.residentBytes(of: "\($0)") } ?? 0)
            }
            residentMemory.record(Self.residentBytes(of: "self"))
            openDescriptors.record((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
            loopLag.record(Double(worstLag.nanoseconds) / 1e9)
            worstLag = .zero
        }
        try? await messageBus.eventLoop.submit(update).get()
        return registry.emitToBuffer()
    }

    /// Resident memory from `/proc/<pid>/statm` (pages × page size); 0 when the process is gone.
    static func residentBytes(of pid: String) -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// What the client connections count: connections made, open, messages dropped for clients over their
/// output limit, and clients disconnected for staying over it.
struct ClientMeters: Sendable {
    let connections: Counter
    let connected: Meter
    let dropped: Counter
    let stalled: Counter

    init(factory: any MetricsFactory) {
        connections = CoreMetrics.Counter(label: "rethink_client_connections_total", factory: factory)
        connected = CoreMetrics.Meter(label: "rethink_clients_connected", factory: factory)
        dropped = CoreMetrics.Counter(label: "rethink_client_dropped_messages_total", factory: factory)
        stalled = CoreMetrics.Counter(label: "rethink_client_stall_disconnects_total", factory: factory)
    }

    static let disabled = ClientMeters(factory: NOOPMetricsHandler.instance)
}
