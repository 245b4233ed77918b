import ArgumentParser
import Foundation
import RethinkMessages

/// `rethink-bench run`: round trips through a server (the daemon or the relay) to one domain's stub, or
/// round-robin over many domains' stubs, pipelined and one at a time.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure round trips/s and latency through the daemon or the relay.",
        discussion: "Prints one line per phase, then a JSON line with every number as the last line.")

    @Option(help: "The server's client socket (rethink-runtimed's or rethink-bench relay's).")
    var socket: String

    @Option(help: "Requests in the pipelined phase.")
    var requests = 200_000

    @Option(help: "Requests in flight in the pipelined phase.")
    var window = 64

    @Option(name: .customLong("sequential-requests"), help: "Requests in the one-at-a-time phase.")
    var sequentialRequests = 20_000

    @Option(name: .customLong("warmup"), help: "Unmeasured requests sent first (they deploy the stub).")
    var warmupRequests = 2_000

    @Option(name: .customLong("body-bytes"), help: "Size of each request's body object in bytes.")
    var bodyBytes = 256

    @Option(help: "The domain whose stub answers; requests go to hyperty://<domain>/echo.")
    var domain = "bench-0.example"

    @Option(help: "How many domains the requests go to, round-robin (needs --domain-prefix when more than 1).")
    var domains = 1

    @Option(
        name: .customLong("domain-prefix"),
        help: "Domains are <prefix><i>.example, i = 0..<--domains (instead of --domain); request i goes to i mod N.")
    var domainPrefix: String?

    @Option(help: "Seconds without any answer before the run fails.")
    var timeout = 20

    @Option(help: "Name of the server in the output.")
    var label = "server"

    func validate() throws {
        guard requests > 0, sequentialRequests > 0, warmupRequests >= 0, window > 0, bodyBytes >= 12, timeout > 0 else {
            throw ValidationError(
                "--requests, --sequential-requests, --window and --timeout must be positive, --body-bytes at least 12")
        }
        guard domains > 0, domainPrefix != nil || domains == 1 else {
            throw ValidationError("--domains must be positive; more than one needs --domain-prefix")
        }
    }

    /// The domains the requests go to, in round-robin order.
    private var domainNames: [String] {
        guard let domainPrefix else { return [domain] }
        return (0..<domains).map { "\(domainPrefix)\($0).example" }
    }

    func run() throws {
        let timeoutMillis = Int32(timeout * 1000)
        let connection = try ServerConnection(socketPath: socket, timeoutMillis: timeoutMillis)
        // Built once before measuring: a request costs the client the same whatever its domain.
        let names = domainNames
        let templates = names.map {
            RequestTemplate(from: connection.greeting.clientURL, to: "hyperty://\($0)/echo", bodyBytes: bodyBytes)
        }
        var sample: [UInt8] = []
        templates[0].append(id: 1, to: &sample)
        let rawEcho = connection.greeting.isRawEcho
        let destination =
            names.count == 1
            ? "hyperty://\(names[0])/echo" : "\(names.count) domains hyperty://\(domainPrefix ?? "")<i>.example/echo"
        print(
            "\(label): \(rawEcho ? "raw relay" : "runtime") at \(socket), requests of \(sample.count - 1) bytes to \(destination)"
        )

        var nextID = 1
        func log(_ count: Int) -> RoundTripLog {
            defer { nextID += count }
            return RoundTripLog(count: count, firstID: nextID, rawEcho: rawEcho)
        }
        var results: [PhaseResult] = []
        if warmupRequests > 0 {
            let warmup = log(warmupRequests)
            let seconds = try RoundTrips.pipelined(
                connection, templates: templates, log: warmup, window: window, timeoutMillis: timeoutMillis)
            results.append(PhaseResult(name: "warm-up", window: window, seconds: seconds, log: warmup))
        }
        let pipelined = log(requests)
        let pipelinedSeconds = try RoundTrips.pipelined(
            connection, templates: templates, log: pipelined, window: window, timeoutMillis: timeoutMillis)
        results.append(PhaseResult(name: "pipelined", window: window, seconds: pipelinedSeconds, log: pipelined))
        let sequential = log(sequentialRequests)
        let sequentialSeconds = try RoundTrips.oneAtATime(connection, log: sequential, timeoutMillis: timeoutMillis) {
            templates[$0 % templates.count]
        }
        results.append(PhaseResult(name: "one-at-a-time", window: 1, seconds: sequentialSeconds, log: sequential))

        for result in results { print(result.line) }
        let report: JSONValue = [
            "mode": "run", "label": .string(label), "server": .string(rawEcho ? "raw-relay" : "runtime"),
            "requestBytes": .int(Int64(sample.count - 1)), "bodyBytes": .int(Int64(bodyBytes)),
            "domains": .int(Int64(names.count)),
            "pipelined": results[results.count - 2].json, "oneAtATime": results[results.count - 1].json,
        ]
        print(report.jsonString)
        try Self.failOnBadAnswers(results, logs: [pipelined, sequential])
    }

    /// Every request must have been answered with 200 (checked last, so the numbers are still printed).
    static func failOnBadAnswers(_ results: [PhaseResult], logs: [RoundTripLog]) throws {
        let bad = results.reduce(0) { $0 + $1.errors + $1.strays }
        guard bad > 0 else { return }
        let first = logs.compactMap(\.firstProblem).first ?? "see the warm-up"
        throw BenchError("\(bad) answers were not a 200 answer to an outstanding request; first: \(first)")
    }
}
