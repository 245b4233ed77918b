import CoreMetrics
import NIOConcurrencyHelpers
import RethinkMessages

/// What the bus counts, for the operator (docs/OPERATIONS.md lists every name): through swift-metrics, so the
/// bus does not know which backend (the daemon's Prometheus registry, or none) takes the numbers.
///
/// A domain gets labelled meters once a stub serves it, and at most `maxDomains` of them: a client naming
/// 100,000 unknown domains (or a network publishing them) cannot grow the metrics. Everything else is
/// counted under `domain="none"` (no stub: unknown domains, local addresses), or `"other"` past the cap.
/// Meters are looked up once per route and kept on it, so the data path costs an atomic add per count.
public final class BusMetrics: Sendable {
    public let factory: any MetricsFactory
    let maxDomains: Int
    private let domains = NIOLockedValueBox([DomainKey: DomainMeters]())
    /// Requests for no stub's domain (only its request counters exist).
    let none: DomainMeters
    /// Domains past the cap, together; made when the cap is first reached.
    private let other = NIOLockedValueBox<DomainMeters?>(nil)
    /// Every message the bus wrote to a port, and the final responses the runtime gave itself.
    let delivered: Counter
    let runtimeAnswers: Counter

    /// No metrics: every meter is a no-op.
    public static let disabled = BusMetrics(factory: NOOPMetricsHandler.instance)

    public init(factory: any MetricsFactory, maxDomains: Int = 1000) {
        self.factory = factory
        self.maxDomains = maxDomains
        none = DomainMeters(label: "none", factory: factory, stubMeters: false)
        delivered = Counter(label: "rethink_bus_deliveries_total", factory: factory)
        runtimeAnswers = Counter(label: "rethink_bus_runtime_answers_total", factory: factory)
    }

    /// The meters of a domain a stub serves (made on first use; "other" past the cap).
    public func meters(for domain: DomainKey) -> DomainMeters {
        domains.withLockedValue { table in
            if let meters = table[domain] { return meters }
            guard table.count < maxDomains else {
                return other.withLockedValue { other in
                    if let other { return other }
                    let made = DomainMeters(label: "other", factory: factory)
                    other = made
                    return made
                }
            }
            let meters = DomainMeters(label: domain.value, factory: factory)
            table[domain] = meters
            return meters
        }
    }

    /// Every domain's meters (a scrape sets their gauges).
    public func allMeters() -> [DomainMeters] {
        domains.withLockedValue { Array($0.values) } + (other.withLockedValue { $0 }.map { [$0] } ?? [])
    }
}

/// One domain's meters. Counters by final code are made as codes occur, from a fixed set of label values
/// (a stub choosing its codes cannot add series).
public final class DomainMeters: Sendable {
    public let domain: String
    let factory: any MetricsFactory
    let toStub: Counter
    let fromStub: Counter
    let violations: Counter
    let crashes: Counter
    let queued: Gauge
    public let deploys: Timer
    public let residentBytes: Gauge
    /// By ``codeSlot(_:)``: an index, not a label to hash, on the data path.
    private let byCode = NIOLockedValueBox([Counter?](repeating: nil, count: DomainMeters.codeSlots))

    /// - Parameter stubMeters: false for "none": no stub, so only its request counters are real.
    init(label: String, factory: any MetricsFactory, stubMeters: Bool = true) {
        domain = label
        self.factory = factory
        let dimensions = [("domain", label)]
        let factory = stubMeters ? factory : NOOPMetricsHandler.instance
        toStub = Counter(label: "rethink_stub_messages_total", dimensions: dimensions + [("direction", "to_stub")], factory: factory)
        fromStub = Counter(
            label: "rethink_stub_messages_total", dimensions: dimensions + [("direction", "from_stub")], factory: factory)
        violations = Counter(label: "rethink_stub_violations_total", dimensions: dimensions, factory: factory)
        crashes = Counter(label: "rethink_stub_crashes_total", dimensions: dimensions, factory: factory)
        queued = Gauge(label: "rethink_stub_queued_messages", dimensions: dimensions, factory: factory)
        deploys = Timer(label: "rethink_stub_deploy_duration_seconds", dimensions: dimensions, factory: factory)
        residentBytes = Gauge(label: "rethink_stub_resident_memory_bytes", dimensions: dimensions, factory: factory)
    }

    /// Counts one request's final response.
    func finished(code: Int) {
        let slot = Self.codeSlot(code)
        let counter = byCode.withLockedValue { table in
            if let counter = table[slot] { return counter }
            let counter = Counter(
                label: "rethink_requests_total", dimensions: [("domain", domain), ("code", Self.codeLabel(code))],
                factory: factory)
            table[slot] = counter
            return counter
        }
        counter.increment()
    }

    private static let namedCodes = [200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500, 501, 502, 503, 504]
    /// The named codes, the five classes and "invalid".
    static let codeSlots = namedCodes.count + 6

    /// Where a code's counter is kept: one slot per label of ``codeLabel(_:)``.
    static func codeSlot(_ code: Int) -> Int {
        if let named = namedCodes.firstIndex(of: code) { return named }
        if (100..<600).contains(code) { return namedCodes.count + code / 100 - 1 }
        return namedCodes.count + 5
    }

    /// The codes the runtime gives and the usual ones stubs give keep their number; any other, its class.
    static func codeLabel(_ code: Int) -> String {
        switch code {
        case _ where namedCodes.contains(code): return String(code)
        case 100..<600: return "\(code / 100)xx"
        default: return "invalid"
        }
    }
}
