import ArgumentParser
import FoundationEssentials
import Logging
import RethinkDaemon
import RethinkJournal
import RethinkMessages

/// `rethink-runtimed`: runs one core runtime in the foreground, systemd style, until SIGTERM or SIGINT;
/// SIGHUP reloads the configuration.
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

    @Option(
        name: .customLong("log-target"),
        help: "auto (the journal when systemd runs the daemon, else stderr), journal or stderr (default auto).")
    var logTarget: LogTarget?

    /// The configuration file (read anew on each reload) with the flags applied over it.
    func effectiveConfiguration() throws(ConfigurationError) -> DaemonConfiguration {
        var configuration =
            try configPath.map { path throws(ConfigurationError) in try DaemonConfiguration.load(path: path) }
            ?? DaemonConfiguration()
        if let socket { configuration.socket = DaemonConfiguration.absolute(socket, against: nil) }
        if let stateDirectory { configuration.stateDirectory = DaemonConfiguration.absolute(stateDirectory, against: nil) }
        if !catalogues.isEmpty { configuration.catalogues = catalogues.map { DaemonConfiguration.absolute($0, against: nil) } }
        if configuration.catalogues.isEmpty, let bundled = BundledFiles.catalogue {
            configuration.catalogues = [bundled]
        }
        if configuration.pythonPath.isEmpty, let kit = BundledFiles.stubKit { configuration.pythonPath = [kit] }
        if configuration.javascriptHost == nil, let host = BundledFiles.javascriptHost {
            configuration.javascriptHost = host
        }
        if let runtimeDomain { configuration.runtimeDomain = runtimeDomain }
        if let responseTimeout { configuration.responseTimeoutSeconds = responseTimeout }
        if let logLevel { configuration.logLevel = logLevel }
        if let logTarget { configuration.logTarget = logTarget }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        let configuration: DaemonConfiguration
        do {
            configuration = try effectiveConfiguration()
        } catch {
            throw ValidationError(error.message)
        }
        let level = LogLevelControl(Logger.Level(rawValue: configuration.logLevel) ?? .info)
        let destination = LogTarget.bootstrap(
            configuration.logTarget, journalSocket: configuration.journalSocket, identifier: "rethink-runtimed",
            level: level, dropped: DroppedLineCounter())
        let logger = Logger(label: "rethink-runtimed")
        logger.debug("logging to \(destination)")
        // Taken before the start, so that a SIGTERM during it stops the daemon cleanly instead of killing it.
        let requests = SignalWaiter.requests()
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration, logger: logger)
            try await daemon.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        for await request in requests {
            switch request {
            case .reload:
                await reload(daemon, level: level, logger: logger)
            case .stop(let signal):
                logger.info("signal \(signal) received")
                await daemon.stop()
            }
        }
    }

    /// SIGHUP: a configuration that does not load or validate is refused and the running one stays.
    private func reload(_ daemon: Daemon, level: LogLevelControl, logger: Logger) async {
        do {
            let new = try effectiveConfiguration()
            let notes = try await daemon.reload(new)
            level.current = Logger.Level(rawValue: new.logLevel) ?? level.current
            for note in notes { logger.warning("reload: \(note)") }
            logger.notice(
                "configuration reloaded from \(configPath ?? "the command line")",
                metadata: ["message_id": "\(JournalMessageID.configurationReloaded)"])
        } catch {
            logger.error("configuration not reloaded, the running one stays: \(error.message)")
        }
    }
}

extension LogTarget: ExpressibleByArgument {}
