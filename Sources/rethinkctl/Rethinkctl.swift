import ArgumentParser
import Foundation
import RethinkClient
import RethinkMessages

/// `rethinkctl`: the operator's and scripter's client for rethink-runtimed's socket.
@main
struct Rethinkctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to rethink-runtimed: list stubs, send messages, listen, deploy and undeploy, watch the bus, read metrics.",
        subcommands: [
            Status.self, Stubs.self, Send.self, Listen.self, Deploy.self, Undeploy.self, StubCommand.self,
            Monitor.self, Metrics.self,
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
    @Option(help: "Sender address (default: this connection's client URL); the connection must own it (see --as).")
    var from: String?
    @Option(
        name: .customLong("as"),
        help: "Listen on this address and send from it, on one connection: the answer comes back to it.")
    var sendAs: String?
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
        guard sendAs == nil || from == nil || sendAs == from else {
            throw ValidationError("--as already sets the sender; give --from or --as, not both")
        }
        let client = try await options.connect()
        defer { Task { await client.close() } }
        if let sendAs {
            let listening = try await client.listen([sendAs])
            try check(listening)
        }
        let response = try await client.request(
            messageType, to: to, from: sendAs ?? from, body: body, timeout: .milliseconds(Int(timeout * 1000)))
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
    @Option(help: "Answer every request that arrives 200 with this JSON value.")
    var reply: String?
    @Option(
        help: """
            Answer every request by running this shell command: the message (JSON) on its stdin, its stdout \
            (JSON, or else the text) the answer's value; exit status 0 answers 200, any other 500 with its stderr.
            """)
    var exec: String?
    @Argument(help: "Addresses to listen on; 'status' stands for <runtimeURL>/status.")
    var addresses: [String]

    func run() async throws {
        guard reply == nil || exec == nil else { throw ValidationError("give --reply or --exec, not both") }
        var replyValue: JSONValue?
        if let reply {
            do {
                replyValue = try JSONValue.parse(reply)
            } catch {
                throw ValidationError("--reply is not JSON (\(error)); quote strings: '\"hi\"'")
            }
        }
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
                        + (value["reason"]?.stringValue.map { "  (\($0))" } ?? "")
                        + (value["desc"]?.stringValue.map { "  \($0)" } ?? ""))
            } else {
                emit(Self.describe(message))
            }
            if message.type != .response, message.id != nil, replyValue != nil || exec != nil {
                let (code, desc, value) = exec.map { Self.run($0, on: message) } ?? (200, nil, replyValue)
                try await client.send(message.response(code: code, desc: desc, value: value))
            }
            seen += 1
            if let count, seen >= count { break }
        }
        await client.close()
    }

    /// `create id 7 hyperty://acme.example/alice -> hyperty://beta.example/bob via <stub> {"text":"hi"}`
    static func describe(_ message: Message) -> String {
        let id = message.id.map { " id \($0)" } ?? ""
        let via = message.via.isEmpty ? "" : " via \(message.via.joined(separator: ","))"
        return "\(message.type.rawValue)\(id) \(message.from ?? "?") -> \(message.to)\(via) \(message.bodyValue?.jsonString ?? "")"
    }

    /// Runs `command` with `message` on its stdin: the (code, desc, value) of the answer.
    static func run(_ command: String, on message: Message) -> (Int, String?, JSONValue?) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return (500, "cannot run \(command): \(error)", nil)
        }
        input.fileHandleForWriting.write(Data((message.text + "\n").utf8))
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let value: JSONValue = (try? JSONValue.parse(Array(text.utf8))) ?? .string(text)
        guard process.terminationStatus == 0 else {
            let reason = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (
                500, "\(command) exited with status \(process.terminationStatus)" + (reason.isEmpty ? "" : ": \(reason)"),
                value
            )
        }
        return (200, nil, value)
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
