import Foundation
import Logging
import RethinkClient
import RethinkDaemon
import RethinkJournal
import RethinkMessages
import Synchronization
import Testing

/// Where the checkout and the built products are, without absolute paths in the sources.
enum Paths {
    /// The package root, from this file's location.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The build products directory: the test binary lives there.
    static var products: URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("rethink-echo-stub").path) {
                return directory
            }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }
    static func product(_ name: String) -> String { products.appendingPathComponent(name).path }

    /// Waits until `path` exists (a socket bound, a marker written), at most `seconds`; whether it does.
    @discardableResult
    static func waitForFile(_ path: String, seconds: Double = 10) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !FileManager.default.fileExists(atPath: path), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return FileManager.default.fileExists(atPath: path)
    }
    static let stubKit = root.appendingPathComponent("stubkit").path
    static let testingStub = root.appendingPathComponent("Tests/Fixtures/stubs/testing_stub.py").path
    static let echoStub = root.appendingPathComponent("stubkit/examples/echo_stub.py").path
}

/// Log entries the daemon wrote, for assertions on what an operator would read.
final class LogCollector: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    var all: [Entry] { entries.withLock { $0 } }
}

struct CollectingLogHandler: LogHandler {
    let collector: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        collector.append(.init(level: event.level, message: "\(event.message)", metadata: fields))
        if ProcessInfo.processInfo.environment["RETHINK_TEST_LOG"] != nil {
            FileHandle.standardError.write(Data("[\(event.level)] \(event.message) \(fields)\n".utf8))
        }
    }
}

/// A real daemon, in this process, on a socket in a temporary directory, with a catalogue made for the test.
final class TestRuntime: Sendable {
    let directory: URL
    let daemon: Daemon
    let logs = LogCollector()
    var socket: String { daemon.configuration.socket }
    var runtimeURL: String { daemon.addresses.runtimeURL }

    /// - Parameter descriptors: domain key -> descriptor JSON.
    init(
        descriptors: [String: JSONValue], responseTimeout: Double = 15, queueLimit: Int = 1000,
        environment: [String: String] = [:], journal: JournalSocket? = nil,
        configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-test-\(UUID().uuidString.prefix(8))")
        let catalogue = directory.appendingPathComponent("catalogue")
        try FileManager.default.createDirectory(at: catalogue, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        for (domain, descriptor) in descriptors {
            try Data(descriptor.jsonBytes).write(to: catalogue.appendingPathComponent("\(domain).json"))
        }
        var configuration = DaemonConfiguration()
        configuration.socket = directory.appendingPathComponent("runtime.sock").path
        configuration.stateDirectory = directory.appendingPathComponent("state").path
        configuration.catalogues = [catalogue.path]
        configuration.pythonPath = [Paths.stubKit]
        configuration.responseTimeoutSeconds = responseTimeout
        configuration.queueLimit = queueLimit
        configure(&configuration)
        let collector = logs
        var logger = Logger(label: "test") { label in
            let collecting = CollectingLogHandler(collector: collector)
            guard let journal else { return collecting }
            let journalHandler = JournalLogHandler(
                identifier: "rethink-test", journal: journal, level: LogLevelControl(.debug),
                dropped: DroppedLineCounter(), fallback: { _ in })
            return MultiplexLogHandler([collecting, journalHandler])
        }
        logger.logLevel = .debug
        daemon = try Daemon(configuration: configuration, logger: logger, environment: environment)
        try await daemon.start()
    }

    func client() async throws -> RuntimeClient {
        try await RuntimeClient.connect(socketPath: socket)
    }

    func stop() async {
        await daemon.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Descriptors for the fixtures.
    static func python(_ path: String, configuration: JSONValue = [:]) -> JSONValue {
        [
            "objectName": "test", "version": "1", "language": "python", "sourcePackageURL": .string(path),
            "configuration": configuration,
        ]
    }

    static func testing(_ configuration: JSONValue = [:]) -> JSONValue {
        python(Paths.testingStub, configuration: configuration)
    }

    static var native: JSONValue {
        [
            "objectName": "echo-native", "version": "1", "language": "executable",
            "sourcePackageURL": .string(Paths.product("rethink-echo-stub")),
        ]
    }

    /// The registry listing's entry for `domain`.
    func stub(_ domain: String, via client: RuntimeClient) async throws -> JSONValue? {
        let listing = try await client.request(.read, to: runtimeURL + "/registry")
        return listing.bodyValue?.arrayValue?.first { $0["domain"]?.stringValue == domain }
    }

    /// Waits until the registry shows `status` for `domain` (and an entry that `matches`).
    func waitFor(
        _ domain: String, status: String, via client: RuntimeClient, seconds: Double = 10,
        matching matches: (JSONValue) -> Bool = { _ in true }
    ) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JSONValue?
        while Date() < deadline {
            last = try await stub(domain, via: client)
            if let last, last["status"]?.stringValue == status, matches(last) { return last }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(domain) never reached \(status); last seen: \(last?.jsonString ?? "nothing")")
        throw RuntimeClientError("timeout")
    }
}

extension RuntimeClient {
    /// Collects up to `count` messages that match, waiting at most `seconds` in all.
    func collect(_ count: Int, seconds: Double = 10, where include: (Message) -> Bool = { _ in true }) async
        -> [Message]
    {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var result: [Message] = []
        while result.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let message = await next(timeout: left) else { break }
            if include(message) { result.append(message) }
        }
        return result
    }
}
