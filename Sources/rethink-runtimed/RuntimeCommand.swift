import ArgumentParser
import Foundation
import Logging
import RethinkDaemon

/// `rethink-runtimed`: runs one core runtime in the foreground, systemd style, until SIGTERM or SIGINT.
@main
struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rethink-runtimed",
        abstract:
            "reTHINK runtime daemon: deploys each domain's protocol stub on the fly, sandboxed, and routes messages to it.",
        version: Daemon.version)

    @Option(name: .customLong("config"), help: "JSON configuration file; the flags below override it.")
    var configPath: String?

    @Option(help: "Client socket path (default /run/rethink/runtime.sock).")
    var socket: String?

    @Option(
        name: .customLong("state-dir"), help: "State directory: runtime id, stub working directories, package cache.")
    var stateDirectory: String?

    @Option(
        name: .customLong("catalogue"), help: "Local catalogue directory of <domain-key>.json descriptors (repeatable)."
    )
    var catalogues: [String] = []

    @Option(name: .customLong("runtime-domain"), help: "Domain of the runtime URL (default localhost).")
    var runtimeDomain: String?

    @Option(
        name: .customLong("response-timeout"), help: "Seconds a request may wait for its final response (default 15).")
    var responseTimeout: Double?

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    func run() async throws {
        var configuration: DaemonConfiguration
        do {
            configuration =
                try configPath.map { path throws(ConfigurationError) in try DaemonConfiguration.load(path: path) }
                ?? DaemonConfiguration()
        } catch {
            throw ValidationError(error.message)
        }
        if let socket { configuration.socket = socket }
        if let stateDirectory { configuration.stateDirectory = stateDirectory }
        if !catalogues.isEmpty { configuration.catalogues = catalogues }
        if configuration.catalogues.isEmpty, let bundled = BundledFiles.catalogue {
            configuration.catalogues = [bundled]
        }
        if configuration.pythonPath.isEmpty, let kit = BundledFiles.stubKit { configuration.pythonPath = [kit] }
        if let runtimeDomain { configuration.runtimeDomain = runtimeDomain }
        if let responseTimeout { configuration.responseTimeoutSeconds = responseTimeout }
        if let logLevel { configuration.logLevel = logLevel }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "rethink-runtimed")
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration, logger: logger)
            try await daemon.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let signal = await SignalWaiter.waitForTermination()
        logger.info("signal \(signal) received")
        await daemon.stop()
    }
}
