import ArgumentParser
import Foundation
import RethinkMessages

/// `rethink-bench deploy`: how long the runtime takes to bring up many stubs at once, each deployed on the
/// fly by the first message to its domain; unlike `first-contact`, the first messages overlap, so what is
/// measured is the daemon's deploy throughput rather than one deploy's latency.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy N stubs at once: one request to each of N new domains, pipelined, timed until all answer.",
        discussion: """
            Sends one request to each of hyperty://<prefix><i>.example/echo, i = 0..<N, with up to --window in \
            flight. The catalogue must hold <prefix><i>.example.json for each. Prints a line, then a JSON line.
            """)

    @Option(help: "rethink-runtimed's client socket.")
    var socket: String

    @Option(help: "How many new domains (and so stubs) to deploy.")
    var count = 1000

    @Option(name: .customLong("domain-prefix"), help: "Domains are <prefix><i>.example.")
    var domainPrefix = "bench-d-"

    @Option(help: "First requests in flight at once (so deploys under way at once).")
    var window = 64

    @Option(name: .customLong("body-bytes"), help: "Size of each request's body object in bytes.")
    var bodyBytes = 256

    @Option(help: "Seconds without any answer before the run fails.")
    var timeout = 20

    func validate() throws {
        guard count > 0, window > 0, bodyBytes >= 12, timeout > 0 else {
            throw ValidationError("--count, --window and --timeout must be positive, --body-bytes at least 12")
        }
    }

    func run() throws {
        let timeoutMillis = Int32(timeout * 1000)
        let connection = try ServerConnection(socketPath: socket, timeoutMillis: timeoutMillis)
        let templates = (0..<count).map {
            RequestTemplate(
                from: connection.greeting.clientURL, to: "hyperty://\(domainPrefix)\($0).example/echo",
                bodyBytes: bodyBytes)
        }
        let log = RoundTripLog(count: count, firstID: 1, rawEcho: connection.greeting.isRawEcho)
        let seconds = try RoundTrips.pipelined(
            connection, templates: templates, log: log, window: window, timeoutMillis: timeoutMillis)
        let result = PhaseResult(name: "deploy", window: window, seconds: seconds, log: log)
        print(result.line)
        print(String(format: "%d stubs deployed in %.3f s", count, seconds))
        // With `window` deploys in flight, a phase's median shows where they queue (spawns are one at a time).
        let breakdown = try DeployBreakdown(
            connection: connection, prefix: domainPrefix, log: log, timeoutMillis: timeoutMillis)
        print(breakdown.line)
        let report: JSONValue = [
            "mode": "deploy", "domains": .int(Int64(count)), "seconds": .double((seconds * 1000).rounded() / 1000),
            "deploy": result.json, "breakdown": breakdown.json,
        ]
        print(report.jsonString)
        try RunCommand.failOnBadAnswers([result], logs: [log])
    }
}
