import FoundationEssentials
import Logging
import RethinkBus
import RethinkCatalogue
import RethinkJournal
import RethinkMessages
import RethinkRuntimeUA
import RethinkSandbox
import SystemPackage

/// The daemon's settings: a JSON file (`--config`), overridden by command-line flags (SPEC section 8).
/// Every key is optional; see `config/rethink-runtimed.json` for the documented defaults. Each section is
/// read by the same strict rule (``Decoder/refuseUnknownKeys(_:)``): an unknown key is refused with its path,
/// a key left out keeps its default, and the defaults of what a module uses are that module's own
/// (`BusConfiguration`, `UAConfiguration`, `DiscoveryConfiguration`, `ResourceLimits`), stated there once.
public struct DaemonConfiguration: Sendable, Codable, Equatable {
    private static let bus = BusConfiguration()
    private static let ua = UAConfiguration()

    public var socket: String = "/run/rethink/runtime.sock"
    public var stateDirectory: String = "/var/lib/rethink"
    public var catalogues: [String] = []
    public var runtimeDomain: String = "localhost"
    public var responseTimeoutSeconds: Double = bus.responseTimeout.seconds
    public var logLevel: String = "info"
    /// `auto` (the journal under systemd, else stderr), `journal` or `stderr`.
    public var logTarget: LogTarget = .auto
    /// journald's native socket; a namespace's is `/run/systemd/journal.NAME/socket`.
    public var journalSocket: String = LogTarget.defaultJournalSocket
    public var maxMessageBytes: Int = ua.maxMessageBytes
    public var queueLimit: Int = bus.queueLimit
    /// Requests one peer may have waiting for their answers; past it, 429.
    public var maxInFlightPerPeer: Int = bus.maxInFlightPerPeer
    /// What a client may leave unread before messages to it are dropped (SPEC section 5), and how long it
    /// may stay over that before it is disconnected.
    public var clientOutputLimitBytes: Int = 8 << 20
    public var clientStallSeconds: Double = 30
    /// On SIGTERM: how long requests already read may take to get their real answers before stubs are stopped
    /// and what still waits gets 503.
    public var shutdownDrainSeconds: Double = 2
    /// A stub with no traffic and no client listening in its domain this long is undeployed, and deployed
    /// again by the next message (0: never); one that still owes an answer is kept. A descriptor's
    /// `idleSeconds` overrides it.
    public var stubIdleSeconds: Double = bus.idleTimeout.seconds
    /// The metrics (OpenMetrics text over HTTP) on a unix socket of their own, for root and the admin group;
    /// nil: `metrics.sock` beside the client socket; `""`: not served.
    public var metricsSocket: String?
    /// Also on a loopback TCP address (`127.0.0.1:9464`), for a Prometheus scrape; readable by anyone on the
    /// host. nil: not served.
    public var metricsListen: String?
    /// A stub's log lines (its stderr) per window; past them they are counted and the count is logged.
    public var stubLogBurst: Int = ua.stubLogRate.burst
    public var stubLogIntervalSeconds: Double = ua.stubLogRate.interval.seconds
    /// Members of this group (and root) may deploy and undeploy stubs through `<runtimeURL>/ua`.
    public var adminGroup: String? = "rethink-admin"
    /// Directories of per-domain credentials, `<domain-key>.json`.
    public var credentialsDirectories: [String] = []
    public var interpreters: [String: String] = ["python": "/usr/bin/python3", "javascript": "/usr/bin/node"]
    /// Extra directories on Python stubs' import path (the stub kit).
    public var pythonPath: [String] = []
    /// The JavaScript stub host that runs reTHINK's JavaScript stubs (the daemon fills in the bundled one,
    /// `stubkit/js/rethink-stub-host.js`, when this is nil); `""`: node runs the package itself.
    public var javascriptHost: String?
    public var handshakeTimeoutSeconds: Double = ua.handshakeTimeout.seconds
    public var sandbox: SandboxSettings = SandboxSettings()
    /// Finding stubs on the network: `.well-known` discovery, TLS, signing keys, limits.
    public var discovery: DiscoverySettings = DiscoverySettings()

    /// The sandbox's knobs (docs/CONFIGURATION.md, docs/SANDBOX.md). Every key is optional; an unknown
    /// one is refused with its path.
    public struct SandboxSettings: Sendable, Codable, Equatable {
        public var defaultAction: SandboxPolicy.DefaultAction = DaemonConfiguration.ua.defaultAction
        public var openFiles: UInt64 = ResourceLimits.stubDefault.openFiles
        public var addressSpaceBytes: UInt64? = ResourceLimits.stubDefault.addressSpaceBytes
        public var fileSizeBytes: UInt64? = ResourceLimits.stubDefault.fileSizeBytes
        public var cpuSeconds: UInt64? = ResourceLimits.stubDefault.cpuSeconds
        public var memoryBytes: UInt64? = ResourceLimits.stubDefault.memoryBytes
        public var tasks: UInt64? = ResourceLimits.stubDefault.tasks
        /// `"full"` (the default: identity, Landlock, scratch, network by declaration) or `"seccomp"`
        /// (seccomp and rlimits only, as before; for measuring what the isolation costs).
        public var confinement: String = "full"
        public var landlock: Bool = true
        /// The uids (gid = uid) a root daemon gives its stubs, `"first-last"`.
        public var uids: String = "\(IdentityPool.defaultRange.lowerBound)-\(IdentityPool.defaultRange.upperBound)"
        public var scratchBytes: UInt64 = IsolationSettings().scratchBytes
        public var nice: Int32 = IsolationSettings().nice
        /// Log the files Landlock refuses stubs, from the kernel's audit (a root daemon), turning the audit
        /// on if it is off.
        public var auditDenials: Bool = true
        /// How many stubs may be setting themselves up at once: the sandbox's spawner threads (nil: two per
        /// core, two to eight).
        public var spawners: Int? = nil
        /// Whether stubs are cloned by a small helper process per spawner thread (forked at start-up) rather
        /// than from the daemon, whose clone grows costlier with its memory and descriptors.
        public var spawnHelpers: Bool = true

        public init() {}

        public init(from decoder: Decoder) throws {
            try decoder.refuseUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = SandboxSettings()
            defaultAction = try container.decode(.defaultAction, or: defaults.defaultAction)
            openFiles = try container.decode(.openFiles, or: defaults.openFiles)
            addressSpaceBytes = try Self.optional(container, .addressSpaceBytes, defaults.addressSpaceBytes)
            fileSizeBytes = try Self.optional(container, .fileSizeBytes, defaults.fileSizeBytes)
            cpuSeconds = try Self.optional(container, .cpuSeconds, defaults.cpuSeconds)
            memoryBytes = try Self.optional(container, .memoryBytes, defaults.memoryBytes)
            tasks = try Self.optional(container, .tasks, defaults.tasks)
            confinement = try container.decode(.confinement, or: defaults.confinement)
            landlock = try container.decode(.landlock, or: defaults.landlock)
            uids = try container.decode(.uids, or: defaults.uids)
            scratchBytes = try container.decode(.scratchBytes, or: defaults.scratchBytes)
            nice = try container.decode(.nice, or: defaults.nice)
            auditDenials = try container.decode(.auditDenials, or: defaults.auditDenials)
            spawners = try container.decodeIfPresent(Int.self, forKey: .spawners) ?? defaults.spawners
            spawnHelpers = try container.decode(.spawnHelpers, or: defaults.spawnHelpers)
        }

        /// A limit left out keeps its default; `null` turns it off.
        private static func optional(
            _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, _ fallback: UInt64?
        ) throws -> UInt64? {
            guard container.contains(key) else { return fallback }
            return try container.decodeNil(forKey: key) ? nil : container.decode(UInt64.self, forKey: key)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case defaultAction, openFiles, addressSpaceBytes, fileSizeBytes, cpuSeconds, memoryBytes, tasks
            case confinement, landlock, uids, scratchBytes, nice, auditDenials, spawners, spawnHelpers
        }

        var limits: ResourceLimits {
            ResourceLimits(
                openFiles: openFiles, addressSpaceBytes: addressSpaceBytes, fileSizeBytes: fileSizeBytes,
                cpuSeconds: cpuSeconds, memoryBytes: memoryBytes, tasks: tasks)
        }

        /// `uids` as a range; validated by ``validate()``.
        public var uidRange: ClosedRange<UInt32> {
            let bounds = uids.split(separator: "-").compactMap { UInt32($0) }
            guard bounds.count == 2, bounds[0] <= bounds[1] else { return IdentityPool.defaultRange }
            return bounds[0]...bounds[1]
        }

        func validate() throws(ConfigurationError) {
            let bounds = uids.split(separator: "-").compactMap { UInt32($0) }
            guard bounds.count == 2, bounds[0] >= 1000, bounds[0] <= bounds[1], bounds[1] < UInt32.max else {
                throw ConfigurationError(
                    "sandbox.uids \"\(uids)\" must be \"first-last\" with 1000 <= first <= last (ids no user or service has)")
            }
            guard confinement == "full" || confinement == "seccomp" else {
                throw ConfigurationError("sandbox.confinement must be \"full\" or \"seccomp\", not \"\(confinement)\"")
            }
            guard scratchBytes >= 1 << 20 else { throw ConfigurationError("sandbox.scratchBytes must be at least 1 MiB") }
            if let spawners, !(1...64).contains(spawners) {
                throw ConfigurationError("sandbox.spawners must be between 1 and 64 (or left out: two per core), not \(spawners)")
            }
        }

        var isolation: IsolationSettings {
            var settings = IsolationSettings()
            settings.enabled = confinement == "full"
            settings.landlock = landlock
            settings.scratchBytes = scratchBytes
            settings.nice = nice
            return settings
        }
    }

    /// Per-domain sandbox settings: destinations added to (or replacing) a descriptor's constraints, limits.
    public var domains: [String: DomainSandbox] = [:]

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DaemonConfiguration()
        socket = try container.decode(.socket, or: defaults.socket)
        stateDirectory = try container.decode(.stateDirectory, or: defaults.stateDirectory)
        catalogues = try container.decode(.catalogues, or: defaults.catalogues)
        runtimeDomain = try container.decode(.runtimeDomain, or: defaults.runtimeDomain)
        responseTimeoutSeconds = try container.decode(.responseTimeoutSeconds, or: defaults.responseTimeoutSeconds)
        logLevel = try container.decode(.logLevel, or: defaults.logLevel)
        logTarget = try container.decode(.logTarget, or: defaults.logTarget)
        journalSocket = try container.decode(.journalSocket, or: defaults.journalSocket)
        maxMessageBytes = try container.decode(.maxMessageBytes, or: defaults.maxMessageBytes)
        queueLimit = try container.decode(.queueLimit, or: defaults.queueLimit)
        maxInFlightPerPeer = try container.decode(.maxInFlightPerPeer, or: defaults.maxInFlightPerPeer)
        clientOutputLimitBytes = try container.decode(.clientOutputLimitBytes, or: defaults.clientOutputLimitBytes)
        clientStallSeconds = try container.decode(.clientStallSeconds, or: defaults.clientStallSeconds)
        shutdownDrainSeconds = try container.decode(.shutdownDrainSeconds, or: defaults.shutdownDrainSeconds)
        stubIdleSeconds = try container.decode(.stubIdleSeconds, or: defaults.stubIdleSeconds)
        metricsSocket = try container.decode(.metricsSocket, or: defaults.metricsSocket)
        metricsListen = try container.decode(.metricsListen, or: defaults.metricsListen)
        stubLogBurst = try container.decode(.stubLogBurst, or: defaults.stubLogBurst)
        stubLogIntervalSeconds = try container.decode(.stubLogIntervalSeconds, or: defaults.stubLogIntervalSeconds)
        adminGroup = try container.decode(.adminGroup, or: defaults.adminGroup)
        credentialsDirectories = try container.decode(.credentialsDirectories, or: defaults.credentialsDirectories)
        interpreters = defaults.interpreters.merging(
            try container.decodeIfPresent([String: String].self, forKey: .interpreters) ?? [:]
        ) { $1 }
        pythonPath = try container.decode(.pythonPath, or: defaults.pythonPath)
        javascriptHost = try container.decode(.javascriptHost, or: defaults.javascriptHost)
        handshakeTimeoutSeconds = try container.decode(.handshakeTimeoutSeconds, or: defaults.handshakeTimeoutSeconds)
        sandbox = try container.decode(.sandbox, or: defaults.sandbox)
        discovery = try container.decode(.discovery, or: defaults.discovery)
        domains = try container.decode(.domains, or: defaults.domains)
    }

    /// Reads a JSON configuration file; unknown keys are refused so that a typo does not go unnoticed.
    public static func load(path: String) throws(ConfigurationError) -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the configuration file \(path)")
        }
        do {
            var configuration = try JSONDecoder().decode(DaemonConfiguration.self, from: data)
            try configuration.validate()
            let directory = FilePath(Self.absolute(path, against: nil)).removingLastComponent()
            configuration.resolvePaths(against: directory.string)
            return configuration
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(path): \(error.message)")
        } catch let error as UnknownSettingsError {
            throw ConfigurationError("\(path): \(error.message)")
        } catch let error as DecodingError {
            throw ConfigurationError("\(path): \(ConfigurationError.describe(error))")
        } catch {
            throw ConfigurationError("\(path) is not a valid configuration: \(error)")
        }
    }

    /// Checks values that would only fail later, and less clearly.
    public func validate() throws(ConfigurationError) {
        guard responseTimeoutSeconds > 0 else { throw ConfigurationError("responseTimeoutSeconds must be above 0") }
        guard maxMessageBytes >= 1024 else { throw ConfigurationError("maxMessageBytes must be at least 1024") }
        guard queueLimit >= 1 else { throw ConfigurationError("queueLimit must be at least 1") }
        guard maxInFlightPerPeer >= 1 else { throw ConfigurationError("maxInFlightPerPeer must be at least 1") }
        guard clientOutputLimitBytes >= 2 * maxMessageBytes else {
            throw ConfigurationError(
                "clientOutputLimitBytes (\(clientOutputLimitBytes)) must be at least twice maxMessageBytes (\(maxMessageBytes))")
        }
        guard clientStallSeconds > 0 else { throw ConfigurationError("clientStallSeconds must be above 0") }
        guard shutdownDrainSeconds >= 0 else { throw ConfigurationError("shutdownDrainSeconds must be 0 or more") }
        guard stubIdleSeconds >= 0 else { throw ConfigurationError("stubIdleSeconds must be 0 (never) or more") }
        if let metricsListen { _ = try MetricsAddress(parsing: metricsListen) }
        guard stubLogBurst >= 1, stubLogIntervalSeconds > 0 else {
            throw ConfigurationError("stubLogBurst must be at least 1 and stubLogIntervalSeconds above 0")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ConfigurationError(
                "logLevel \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard !runtimeDomain.isEmpty, !runtimeDomain.contains("/") else {
            throw ConfigurationError("runtimeDomain must be a host name")
        }
        try discovery.validate()
        try sandbox.validate()
        for (domain, settings) in domains {
            for entry in (settings.connect ?? []) + (settings.datagram ?? []) {
                do {
                    _ = try NetworkDestination(parsing: entry)
                } catch {
                    throw ConfigurationError("domains.\(domain): \(error.message)")
                }
            }
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case socket, stateDirectory, catalogues, runtimeDomain, responseTimeoutSeconds, logLevel, logTarget,
            journalSocket, maxMessageBytes, queueLimit, clientOutputLimitBytes, clientStallSeconds, stubLogBurst,
            maxInFlightPerPeer, stubLogIntervalSeconds, shutdownDrainSeconds, metricsSocket, metricsListen, stubIdleSeconds
        case adminGroup, credentialsDirectories, interpreters, pythonPath, handshakeTimeoutSeconds, sandbox
        case discovery, domains, javascriptHost
    }

    /// Where the metrics' unix socket is: configured, or `metrics.sock` beside the client socket; nil when off.
    public var metricsSocketPath: String? {
        if let metricsSocket { return metricsSocket.isEmpty ? nil : metricsSocket }
        let directory = FilePath(socket).removingLastComponent().string
        return (directory.isEmpty ? "." : directory) + "/metrics.sock"
    }

    /// Makes the file system paths absolute: those of a configuration file against the file's own directory,
    /// those given as flags against the working directory (what a user who wrote `--socket rt.sock` means).
    /// The daemon and its stubs work in other directories, so a relative path would name another place.
    public mutating func resolvePaths(against directory: String) {
        socket = Self.absolute(socket, against: directory)
        stateDirectory = Self.absolute(stateDirectory, against: directory)
        catalogues = catalogues.map { Self.absolute($0, against: directory) }
        credentialsDirectories = credentialsDirectories.map { Self.absolute($0, against: directory) }
        pythonPath = pythonPath.map { Self.absolute($0, against: directory) }
        if let metricsSocket, !metricsSocket.isEmpty { self.metricsSocket = Self.absolute(metricsSocket, against: directory) }
        if let javascriptHost, !javascriptHost.isEmpty {
            self.javascriptHost = Self.absolute(javascriptHost, against: directory)
        }
    }

    /// `path` itself when absolute, else `path` in `directory` (the working directory when nil).
    public static func absolute(_ path: String, against directory: String?) -> String {
        guard !path.hasPrefix("/"), !path.isEmpty else { return path }
        let base = directory ?? FileManager.default.currentDirectoryPath
        return FilePath(base).appending(path).standardized().string
    }

    /// The JavaScript stub host as the packager takes it: nil when none is configured (or `""`). It answers a
    /// stub's own request 408 a little after the runtime would, so that the runtime's answer normally wins.
    var javascriptHostSettings: JavaScriptHost? {
        guard let script = javascriptHost, !script.isEmpty else { return nil }
        return JavaScriptHost(script: script, responseTimeoutMilliseconds: Int(responseTimeoutSeconds * 1000) + 500)
    }
}

/// A configuration that cannot be used; the message names the setting.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// A decoding failure in words, with the setting's path: `sandbox.openFiles: expected a number`.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not valid JSON: \(context.debugDescription)"
                : "\(context.codingPath.dottedPath): \(context.debugDescription)"
        case .typeMismatch(let type, let context):
            return "\(context.codingPath.dottedPath): expected \(Self.name(of: type))"
        case .valueNotFound(let type, let context):
            return "\(context.codingPath.dottedPath): expected \(Self.name(of: type)), not null"
        case .keyNotFound(let key, let context):
            return "\((context.codingPath + [key]).dottedPath) is missing"
        @unknown default:
            return "\(error)"
        }
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int32.Type, is UInt64.Type, is Double.Type: return "a number"
        case is [String].Type: return "a list of strings"
        default: return "\(type)"
        }
    }
}
