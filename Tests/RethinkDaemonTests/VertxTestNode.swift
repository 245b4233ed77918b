import Foundation
import RethinkMessages
import RethinkTestKit

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The test message node speaking reTHINK's Vert.x message-node protocol (`Tests/Fixtures/msgnode/vertx-msg-node.js`,
/// run by Debian's node with node-ws), on 127.0.0.1, as a direct child of the test stopped by its PID. It writes
/// one JSON line per event (session opened, re-opened, refused, closed, subscriptions, routed messages) to a
/// file, which is what the tests wait on; its sessions survive a restart when it keeps its state file.
final class VertxTestNode: @unchecked Sendable {
    static let script = Paths.root.appendingPathComponent("Tests/Fixtures/msgnode/vertx-msg-node.js").path

    let domain: String
    let directory: URL
    private(set) var port = 0
    private var process: ChildProcess?
    var eventsPath: String { directory.appendingPathComponent("events.jsonl").path }
    var statePath: String { directory.appendingPathComponent("state.json").path }
    /// `ws://127.0.0.1:<port>/ws`: what a stub's `configuration.url` names.
    var url: String { "ws://127.0.0.1:\(port)/ws" }

    init(domain: String) throws {
        self.domain = domain
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-mn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start(port: 0)
    }

    /// Starts the node (on `port`, 0 for one the system picks) and waits for its `listening` event.
    private func start(port: Int) throws {
        let seen = events().count
        let child = try ChildProcess(
            "/usr/bin/node",
            [
                Self.script, "--domain", domain, "--events", eventsPath, "--state", statePath, "--port", "\(port)",
            ], stderrPath: directory.appendingPathComponent("node.log").path)
        process = child
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let listening = events().dropFirst(seen).first(where: { $0["event"]?.stringValue == "listening" }),
                let bound = listening["port"]?.intValue
            {
                self.port = Int(bound)
                return
            }
            guard child.isRunning else { break }
            usleep(5_000)
        }
        let log =
            (try? String(contentsOfFile: directory.appendingPathComponent("node.log").path, encoding: .utf8)) ?? ""
        throw TestSetupError("the test message node did not listen within 10 s: \(log)")
    }

    /// Stops the node and starts it again on the same port; without its state it knows no session afterwards.
    func restart(keepingSessions: Bool) throws {
        stop()
        if !keepingSessions { try? FileManager.default.removeItem(atPath: statePath) }
        try start(port: port)
    }

    func stop() {
        guard let process else { return }
        kill(process.pid, SIGTERM)
        process.wait()
        self.process = nil
    }

    /// Every event so far, oldest first.
    func events() -> [JSONValue] {
        guard let text = try? String(contentsOfFile: eventsPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(Array($0.utf8)) }
    }

    /// Waits for an event named `name` that `matches`, among those after the first `after` events.
    @discardableResult
    func waitFor(
        _ name: String, after: Int = 0, seconds: Double = 10, matching matches: (JSONValue) -> Bool = { _ in true }
    ) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let event = events().dropFirst(after).first(where: { $0["event"]?.stringValue == name && matches($0) }) {
                return event
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestSetupError(
            "the message node saw no \(name) event within \(seconds) s; events: \(events().map(\.jsonString))")
    }

    func cleanUp() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
