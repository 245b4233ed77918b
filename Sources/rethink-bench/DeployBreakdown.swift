import Foundation
import RethinkMessages

/// Where first contact's time went, from the daemon's own timings: after the contacts, the registry's
/// `deployMs` of each new domain's stub (catalogue, package, spawn, attach, handshake, statuses) beside the
/// client's latency for that domain. What the phases do not cover (the request reaching the deploy, the queued
/// request's delivery, the stub's answer and its way back) is `firstAnswer`.
struct DeployBreakdown {
    static let phases = ["catalogue", "package", "spawn", "attach", "handshake", "statuses"]
    /// The columns of a row's `values`: the phases, then what they leave of the client's latency.
    private static let columns = phases + ["firstAnswer"]

    /// One per domain that had every phase: its request index, the client's latency and `columns`, in
    /// milliseconds (the medians come from them, and the slowest say what a p99 is made of).
    private var rows: [(index: Int, latency: Double, values: [Double])] = []
    var domains: Int { rows.count }

    /// Reads `<runtimeURL>/registry` on `connection` and matches domain `<prefix><i>.example` with `log`'s i.
    init(connection: ServerConnection, prefix: String, log: RoundTripLog, timeoutMillis: Int32) throws {
        let records = try Self.registry(connection, timeoutMillis: timeoutMillis)
        var byDomain: [String: JSONValue] = [:]
        for record in records {
            if let domain = record["domain"]?.stringValue, let timings = record["deployMs"] { byDomain[domain] = timings }
        }
        for index in 0..<log.count {
            let latency = log.latency(at: index)
            guard latency != 0, let timings = byDomain["\(prefix)\(index).example"] else { continue }
            let values = Self.phases.compactMap { Self.milliseconds(timings[$0]) }
            guard values.count == Self.phases.count else { continue }
            let firstAnswer = max(0, Double(latency) / 1e6 - values.reduce(0, +))
            rows.append((index, Double(latency) / 1e6, values + [firstAnswer]))
        }
    }

    /// The nearest-rank median of each phase, in milliseconds.
    var medians: [(String, Double)] {
        Self.columns.indices.map { column in
            let sorted = rows.map { $0.values[column] }.sorted()
            guard !sorted.isEmpty else { return (Self.columns[column], 0) }
            return (Self.columns[column], sorted[(sorted.count + 1) / 2 - 1])
        }
    }

    var line: String {
        "deploy phases, p50 over \(domains) domains: "
            + medians.map { String(format: "%@ %.3f ms", $0.0, $0.1) }.joined(separator: ", ")
    }

    /// The `count` slowest first contacts, one line each: which request (0 is the daemon's first deploy) and
    /// its phases.
    func slowest(_ count: Int) -> [String] {
        rows.sorted { $0.latency > $1.latency }.prefix(count).map { row in
            String(format: "slowest: request %d, %.3f ms: ", row.index, row.latency)
                + zip(Self.columns, row.values).map { String(format: "%@ %.3f", $0.0, $0.1) }
                .joined(separator: ", ")
        }
    }

    var json: JSONValue {
        .object(medians.map { ($0.0, .double(($0.1 * 1000).rounded() / 1000)) } + [("domains", .int(Int64(domains)))])
    }

    private static func milliseconds(_ value: JSONValue?) -> Double? {
        switch value {
        case .double(let number): return number
        case .int(let number): return Double(number)
        default: return nil
        }
    }

    /// The registry's list, read with a request id no phase uses.
    private static func registry(_ connection: ServerConnection, timeoutMillis: Int32) throws -> [JSONValue] {
        let id: Int64 = 2_000_000_000
        let request = Message.make(
            id: .int(id), type: .read, from: connection.greeting.clientURL,
            to: connection.greeting.runtimeURL + "/registry")
        try Posix.writeAll(connection.fd, request.bytes + [0x0A])
        while true {
            let line = try connection.lines.nextLine(from: connection.fd, timeoutMillis: timeoutMillis)
            guard let answer = try? Message.parse(line), answer.id == .int(id) else { continue }
            guard answer.code == 200, case .array(let records)? = answer.bodyValue else {
                throw BenchError("the registry read was answered \(answer.code.map(String.init) ?? "without a code")")
            }
            return records
        }
    }
}
