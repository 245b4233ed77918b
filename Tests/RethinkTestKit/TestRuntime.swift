import Foundation
import Logging
import RethinkClient
import RethinkDaemon
import RethinkJournal
import RethinkMessages
import Synchronization
import Testing

/// A real daemon, in this process, on a socket in a temporary directory, with a catalogue made for the test.
public final class TestRuntime: Sendable {
    public let directory: URL
    public let daemon: Daemon
    public let logs = LogCollector()
    public var socket: String { daemon.configuration.socket }
    public var runtimeURL: String { daemon.addresses.runtimeURL }

    /// - Parameter descriptors: domain key -> descriptor JSON.
    public init(
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

    public func client() async throws -> RuntimeClient {
        try await RuntimeClient.connect(socketPath: socket)
    }

    public func stop() async {
        await daemon.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Descriptors for the fixtures.
    public static func python(_ path: String, configuration: JSONValue = [:]) -> JSONValue {
        [
            "objectName": "test", "version": "1", "language": "python", "sourcePackageURL": .string(path),
            "configuration": configuration,
        ]
    }

    public static func testing(_ configuration: JSONValue = [:]) -> JSONValue {
        python(Paths.testingStub, configuration: configuration)
    }

    public static var native: JSONValue {
        [
            "objectName": "echo-native", "version": "1", "language": "executable",
            "sourcePackageURL": .string(Paths.product("rethink-echo-stub")),
        ]
    }

    /// The registry listing's entry for `domain`.
    public func stub(_ domain: String, via client: RuntimeClient) async throws -> JSONValue? {
        let listing = try await client.request(.read, to: runtimeURL + "/registry")
        return listing.bodyValue?.arrayValue?.first { $0["domain"]?.stringValue == domain }
    }

    /// Waits until the registry shows `status` for `domain` (and an entry that `matches`).
    public func waitFor(
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

extension TestRuntime: TestTeardown {}
