import ArgumentParser
import Foundation
import RethinkMessages

/// `rethink-bench first-contact`: the latency of a first message to a domain the runtime has not seen,
/// which includes finding the descriptor, starting the sandboxed stub, its handshake and its first answer.
struct FirstContactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "first-contact",
        abstract: "Measure send-to-answer latency of the first message to each of K new domains.",
        discussion: """
            Sends one request to each of hyperty://<prefix><i>.example/echo, i = 0..<K, one after the other. \
            The catalogue must hold <prefix><i>.example.json for each. Prints a line, the median of each deploy \
            phase from the registry's deployMs (catalogue, package, spawn, attach, handshake, statuses) and of \
            what is left of each latency (firstAnswer), the three slowest contacts with their phases, then a JSON \
            line.
            """)

    @Option(help: "rethink-runtimed's client socket.")
    var socket: String

    @Option(help: "How many new domains to contact.")
    var count = 50

    @Option(name: .customLong("domain-prefix"), help: "Domains are <prefix><i>.example.")
    var domainPrefix = "bench-first-"

    @Option(name: .customLong("body-bytes"), help: "Size of each request's body object in bytes.")
    var bodyBytes = 256

    @Option(help: "Seconds to wait for each answer.")
    var timeout = 20

    @Option(
        name: .customLong("compare-socket"),
        help: "A second runtime's socket: each new domain is contacted on both in turn, and both are reported.")
    var compareSocket: String?

    func validate() throws {
        guard count > 0, bodyBytes >= 12, timeout > 0 else {
            throw ValidationError("--count and --timeout must be positive, --body-bytes at least 12")
        }
    }

    func run() throws {
        if let compareSocket { return try compare(with: compareSocket) }
        let connection = try ServerConnection(socketPath: socket, timeoutMillis: Int32(timeout * 1000))
        let clientURL = connection.greeting.clientURL
        let log = RoundTripLog(count: count, firstID: 1, rawEcho: connection.greeting.isRawEcho)
        let seconds = try RoundTrips.oneAtATime(connection, log: log, timeoutMillis: Int32(timeout * 1000)) { index in
            RequestTemplate(from: clientURL, to: "hyperty://\(domainPrefix)\(index).example/echo", bodyBytes: bodyBytes)
        }
        let result = PhaseResult(name: "first-contact", window: 1, seconds: seconds, log: log)
        print(result.line)
        let breakdown = try DeployBreakdown(
            connection: connection, prefix: domainPrefix, log: log, timeoutMillis: Int32(timeout * 1000))
        print(breakdown.line)
        for line in breakdown.slowest(3) { print(line) }
        let report: JSONValue = ["mode": "first-contact", "firstContact": result.json, "breakdown": breakdown.json]
        print(report.jsonString)
        try RunCommand.failOnBadAnswers([result], logs: [log])
    }

    /// `--compare-socket`: the same new domains on two runtimes, request by request in turn; prints a line for
    /// each, then one JSON line holding both (`firstContact` for --socket, `compared` for the other).
    private func compare(with other: String) throws {
        let millis = Int32(timeout * 1000)
        let connections = [
            try ServerConnection(socketPath: socket, timeoutMillis: millis),
            try ServerConnection(socketPath: other, timeoutMillis: millis),
        ]
        let logs = connections.map { RoundTripLog(count: count, firstID: 1, rawEcho: $0.greeting.isRawEcho) }
        let start = MonotonicClock.now()
        try RoundTrips.interleaved(connections, logs: logs, timeoutMillis: millis) { index, connection in
            RequestTemplate(
                from: connection.greeting.clientURL, to: "hyperty://\(domainPrefix)\(index).example/echo",
                bodyBytes: bodyBytes)
        }
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        let results = [
            PhaseResult(name: "first-contact", window: 1, seconds: seconds, log: logs[0]),
            PhaseResult(name: "compared", window: 1, seconds: seconds, log: logs[1]),
        ]
        for result in results { print(result.line) }
        let breakdowns = try zip(connections, logs).map {
            try DeployBreakdown(connection: $0, prefix: domainPrefix, log: $1, timeoutMillis: millis)
        }
        for breakdown in breakdowns {
            print(breakdown.line)
            for line in breakdown.slowest(3) { print(line) }
        }
        let report: JSONValue = [
            "mode": "first-contact", "firstContact": results[0].json, "compared": results[1].json,
            "breakdown": breakdowns[0].json, "comparedBreakdown": breakdowns[1].json,
        ]
        print(report.jsonString)
        try RunCommand.failOnBadAnswers(results, logs: logs)
    }
}
