import ArgumentParser
import Foundation
import RethinkMessages

/// `rethink-bench run`: round trips through a server (the daemon or the relay) to one domain's stub,
/// pipelined and one at a time.
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

    @Option(help: "Seconds without any answer before the run fails.")
    var timeout = 20

    @Option(help: "Name of the server in the output.")
    var label = "server"

    func validate() throws {
        guard requests > 0, sequentialRequests > 0, warmupRequests >= 0, window > 0, bodyBytes >= 12, timeout > 0 else {
            throw ValidationError(
                "--requests, --sequential-requests, --window and --timeout must be positive, --body-bytes at least 12")
        }
    }

    func run() throws {
        let timeoutMillis = Int32(timeout * 1000)
        let connection = try ServerConnection(socketPath: socket, timeoutMillis: timeoutMillis)
        let template = RequestTemplate(
            from: connection.greeting.clientURL, to: "hyperty://\(domain)/echo", bodyBytes: bodyBytes)
        var sample: [UInt8] = []
        template.append(id: 1, to: &sample)
        let rawEcho = connection.greeting.isRawEcho
        print(
            "\(label): \(rawEcho ? "raw relay" : "runtime") at \(socket), requests of \(sample.count - 1) bytes to hyperty://\(domain)/echo"
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
                connection, template: template, log: warmup, window: window, timeoutMillis: timeoutMillis)
            results.append(PhaseResult(name: "warm-up", window: window, seconds: seconds, log: warmup))
        }
        let pipelined = log(requests)
        let pipelinedSeconds = try RoundTrips.pipelined(
            connection, template: template, log: pipelined, window: window, timeoutMillis: timeoutMillis)
        results.append(PhaseResult(name: "pipelined", window: window, seconds: pipelinedSeconds, log: pipelined))
        let sequential = log(sequentialRequests)
        let sequentialSeconds = try RoundTrips.oneAtATime(connection, log: sequential, timeoutMillis: timeoutMillis) {
            _ in template
        }
        results.append(PhaseResult(name: "one-at-a-time", window: 1, seconds: sequentialSeconds, log: sequential))

        for result in results { print(result.line) }
        let report: JSONValue = [
            "mode": "run", "label": .string(label), "server": .string(rawEcho ? "raw-relay" : "runtime"),
            "requestBytes": .int(Int64(sample.count - 1)), "bodyBytes": .int(Int64(bodyBytes)),
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
