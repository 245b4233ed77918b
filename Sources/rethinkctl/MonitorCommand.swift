import ArgumentParser
import Foundation
import RethinkClient
import RethinkMessages

/// `rethinkctl monitor`: every message the bus routes, as it routes it, like `busctl monitor`.
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch every message the bus routes (root and the admin group).",
        discussion: """
            One line per delivery: time, path (client->stub, stub->client, runtime->client ...), type, id, \
            from -> to, code, size. The daemon drops events rather than wait for a slow watcher; a line says \
            how many were lost. Bodies only with --bodies, and never those carrying credentials.
            """)
    @OptionGroup var options: ConnectionOptions
    @Option(help: "Only messages from, to or through this domain's stub.")
    var domain: String?
    @Option(help: "Only messages from or to this address.")
    var address: String?
    @Flag(help: "Show message bodies.")
    var bodies = false
    @Option(help: "Stop after this many events (default: run until interrupted).")
    var count: Int?

    func run() async throws {
        let client = try await options.connect()
        var filter: [(String, JSONValue)] = [("bodies", .bool(bodies))]
        if let domain { filter.append(("domain", .string(domain))) }
        if let address { filter.append(("address", .string(address))) }
        let monitor = client.greeting.runtimeURL + "/monitor"
        try check(try await client.request(.subscribe, to: monitor, body: ["value": .object(filter)]))
        var seen = 0
        while let message = await client.next() {
            guard message.from == monitor, let event = message.bodyValue else { continue }
            emit(options.json ? event.jsonString : Self.describe(event))
            seen += 1
            if let count, seen >= count { break }
        }
        await client.close()
    }

    /// `12:00:01.234  client->stub  execute id 7  hyperty://... -> hyperty://...  312 B`
    static func describe(_ event: JSONValue) -> String {
        let time = event["time"]?.doubleValue.map { Date(timeIntervalSince1970: $0) } ?? Date()
        let stamp = ISO8601DateFormatter.string(
            from: time, timeZone: .current, formatOptions: [.withTime, .withColonSeparatorInTime, .withFractionalSeconds])
        var line = "\(stamp)  \(event["path"]?.stringValue ?? "?")  \(event["type"]?.stringValue ?? "?")"
        if let id = event["id"], id != .null { line += " id \(id.stringValue ?? id.jsonString)" }
        line += "  \(event["from"]?.stringValue ?? "-") -> \(event["to"]?.stringValue ?? "?")"
        if let code = event["code"]?.intValue { line += "  \(code)" }
        line += "  \(event["bytes"]?.intValue ?? 0) B"
        if let body = event["body"] { line += "  \(body.jsonString)" }
        if let dropped = event["dropped"]?.intValue { line += "  (\(dropped) event(s) before this one were dropped)" }
        return line
    }
}

/// `rethinkctl metrics`: the daemon's metrics, as a Prometheus scrape gets them.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's metrics (Prometheus text) from its metrics socket (root and the admin group).")
    @Option(help: "The metrics socket (default: metrics.sock beside --socket).")
    var metricsSocket: String?
    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let directory = (options.socket as NSString).deletingLastPathComponent
        let path = metricsSocket ?? (directory.isEmpty ? "." : directory) + "/metrics.sock"
        let (status, body) = try MetricsRequest.get(socketPath: path)
        guard status == 200 else {
            throw ValidationError("\(path) answered \(status): \(String(decoding: body, as: UTF8.self))")
        }
        FileHandle.standardOutput.write(Data(body))
    }
}
