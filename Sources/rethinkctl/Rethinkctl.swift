import ArgumentParser
import Foundation
import RethinkClient
import RethinkMessages

/// `rethinkctl`: the operator's and scripter's client for rethink-runtimed's socket.
@main
struct Rethinkctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to rethink-runtimed: list stubs, send messages, listen, deploy and undeploy.",
        subcommands: [
            Status.self, Stubs.self, Send.self, Listen.self, Deploy.self, Undeploy.self, StubCommand.self,
        ])
}

/// Options every subcommand takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The runtime's client socket.")
    var socket: String = ProcessInfo.processInfo.environment["RETHINK_SOCKET"] ?? "/run/rethink/runtime.sock"

    @Flag(help: "Print JSON (one message per line) instead of text.")
    var json = false

    func connect() async throws -> RuntimeClient {
        do {
            return try await RuntimeClient.connect(socketPath: socket)
        } catch {
            throw ValidationError("cannot connect to \(socket): \(error); is rethink-runtimed running? (--socket)")
        }
    }
}

/// The registry's list of stubs (a `read` of `<runtimeURL>/registry`).
func registryListing(_ client: RuntimeClient) async throws -> [JSONValue] {
    let response = try await client.request(.read, to: client.greeting.runtimeURL + "/registry")
    try check(response)
    return response.bodyValue?.arrayValue ?? []
}

/// Turns a runtime error answer into the command's failure.
func check(_ response: Message) throws {
    guard let code = response.code, code >= 300 else { return }
    throw RethinkctlFailure(code: code, desc: response.desc ?? "")
}

struct RethinkctlFailure: Error, CustomStringConvertible {
    let code: Int
    let desc: String
    var description: String { "error \(code): \(desc)" }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The runtime URL, version and stubs by status.")
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let client = try await options.connect()
        defer { Task { await client.close() } }
        let stubs = try await registryListing(client)
        var counts: [String: Int] = [:]
        for stub in stubs { counts[stub["status"]?.stringValue ?? "?", default: 0] += 1 }
        if options.json {
            let value: JSONValue = [
                "runtimeURL": .string(client.greeting.runtimeURL), "version": .string(client.greeting.version),
                "stubs": .object(counts.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }),
            ]
            print(value.jsonString)
            return
        }
        print("runtime  \(client.greeting.runtimeURL)")
        print("version  \(client.greeting.version)")
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("stubs    \(stubs.count)" + (summary.isEmpty ? "" : " (\(summary))"))
    }
}

struct Stubs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every stub: domain, status, pid, version, URL, restarts, and what confines it.")
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let client = try await options.connect()
        defer { Task { await client.close() } }
        let stubs = try await registryListing(client)
        if options.json {
            for stub in stubs { print(stub.jsonString) }
            return
        }
        let header = ["DOMAIN", "STATUS", "PID", "VERSION", "RESTARTS", "URL", "DESC"]
        let rows = stubs.map { stub -> [String] in
            [
                stub["domain"]?.stringValue ?? "", stub["status"]?.stringValue ?? "",
                stub["pid"]?.intValue.map(String.init) ?? "-",
                stub["version"]?.stringValue ?? "-", stub["restarts"]?.intValue.map(String.init) ?? "0",
                stub["url"]?.stringValue ?? "",
                stub["desc"]?.stringValue ?? "",
            ]
        }
        printTable([header] + rows)
        let confined = stubs.compactMap { stub -> String? in
            guard let summary = stub["confinement"]?["summary"]?.stringValue else { return nil }
            return "  \(stub["domain"]?.stringValue ?? ""): \(summary)"
        }
        if !confined.isEmpty {
            print("\nconfinement:")
            confined.forEach { print($0) }
        }
    }

    private func printTable(_ rows: [[String]]) {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            print(cells.joined(separator: "  "))
        }
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send one request and print its final response.")
    @OptionGroup var options: ConnectionOptions
    @Option(help: "Message type (create, read, update, delete, subscribe, unsubscribe, forward, execute).")
    var type: String = "create"
    @Option(help: "Sender address (default: this connection's client URL).")
    var from: String?
    @Option(help: "Response timeout in seconds.")
    var timeout: Double = 30
    @Argument(help: "Destination address, e.g. hyperty://beta.example/bob.")
    var to: String
    @Argument(help: "The body's value as JSON (default null).")
    var value: String?

    func run() async throws {
        guard let messageType = MessageType(rawValue: type.lowercased()), messageType != .response else {
            throw ValidationError(
                "--type must be one of create, read, update, delete, subscribe, unsubscribe, forward, execute")
        }
        var body: JSONValue?
        if let value {
            do {
                body = ["value": try JSONValue.parse(value)]
            } catch {
                throw ValidationError("the value is not JSON (\(error)); quote strings: '\"hi\"'")
            }
        }
        let client = try await options.connect()
        defer { Task { await client.close() } }
        let response = try await client.request(
            messageType, to: to, from: from, body: body, timeout: .milliseconds(Int(timeout * 1000)))
        if options.json {
            print(response.text)
        } else {
            print("\(response.code.map(String.init) ?? "-") \(response.desc ?? "")")
            if let value = response.bodyValue { print(value.jsonString) }
        }
        if let code = response.code, code >= 300 { throw ExitCode.failure }
    }
}

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Listen on addresses and print what arrives (use <runtimeURL>/status, or 'status', for stub status changes)."
    )
    @OptionGroup var options: ConnectionOptions
    @Option(help: "Stop after this many messages (default: run until interrupted).")
    var count: Int?
    @Argument(help: "Addresses to listen on; 'status' stands for <runtimeURL>/status.")
    var addresses: [String]

    func run() async throws {
        let client = try await options.connect()
        let resolved = addresses.map { $0 == "status" ? client.greeting.runtimeURL + "/status" : $0 }
        let answer = try await client.listen(resolved)
        try check(answer)
        if !options.json { emit("listening on \(resolved.joined(separator: ", ")) as \(client.greeting.clientURL)") }
        var seen = 0
        while let message = await client.next() {
            if options.json {
                emit(message.text)
            } else if message.to == client.greeting.runtimeURL + "/status", let value = message.body {
                emit(
                    "\(value["domain"]?.stringValue ?? "?")  \(value["value"]?.stringValue ?? "?")  \(value["resource"]?.stringValue ?? "")"
                        + (value["desc"]?.stringValue.map { "  \($0)" } ?? ""))
            } else {
                emit(
                    "\(message.type.rawValue) \(message.from ?? "?") -> \(message.to) \(message.bodyValue?.jsonString ?? "")"
                )
            }
            seen += 1
            if let count, seen >= count { break }
        }
        await client.close()
    }
}

struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deploy a domain's stub now (root or the admin group).")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "Domain key, e.g. beta.example or xmpp.chat.example.")
    var domain: String

    func run() async throws {
        let client = try await options.connect()
        defer { Task { await client.close() } }
        let response = try await client.request(
            .create, to: client.greeting.runtimeURL + "/ua", body: ["value": ["domain": .string(domain)]])
        print(
            options.json
                ? response.text
                : "\(response.code.map(String.init) ?? "-") \(response.desc ?? "") \(response.bodyValue?["url"]?.stringValue ?? "")"
        )
        try check(response)
    }
}

struct Undeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a domain's stub (root or the admin group).")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "Domain key.")
    var domain: String

    func run() async throws {
        let client = try await options.connect()
        defer { Task { await client.close() } }
        let response = try await client.request(
            .delete, to: client.greeting.runtimeURL + "/ua", body: ["value": ["domain": .string(domain)]])
        print(options.json ? response.text : "\(response.code.map(String.init) ?? "-") \(response.desc ?? "")")
        try check(response)
    }
}

/// Writes a line at once: `listen` runs in pipelines where stdout is not a terminal.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
