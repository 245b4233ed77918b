import Foundation
import Logging
import RethinkJournal
import RethinkSandbox

/// The daemon's settings: a JSON file (`--config`), overridden by command-line flags (SPEC section 8).
/// Every key is optional; see `config/rethink-runtimed.json` for the documented defaults.
public struct DaemonConfiguration: Sendable, Codable, Equatable {
    public var socket: String = "/run/rethink/runtime.sock"
    public var stateDirectory: String = "/var/lib/rethink"
    public var catalogues: [String] = []
    public var runtimeDomain: String = "localhost"
    public var responseTimeoutSeconds: Double = 15
    public var logLevel: String = "info"
    /// `auto` (the journal under systemd, else stderr), `journal` or `stderr`.
    public var logTarget: LogTarget = .auto
    /// journald's native socket; a namespace's is `/run/systemd/journal.NAME/socket`.
    public var journalSocket: String = LogTarget.defaultJournalSocket
    public var maxMessageBytes: Int = 1 << 20
    public var queueLimit: Int = 1000
    /// Members of this group (and root) may deploy and undeploy stubs through `<runtimeURL>/ua`.
    public var adminGroup: String? = "rethink-admin"
    /// Directories of per-domain credentials, `<domain-key>.json`.
    public var credentialsDirectories: [String] = []
    public var interpreters: [String: String] = ["python": "/usr/bin/python3", "javascript": "/usr/bin/node"]
    /// Extra directories on Python stubs' import path (the stub kit).
    public var pythonPath: [String] = []
    public var handshakeTimeoutSeconds: Double = 10
    public var sandbox: SandboxSettings = SandboxSettings()
    /// Finding stubs on the network: `.well-known` discovery, TLS, signing keys, limits.
    public var discovery: DiscoverySettings = DiscoverySettings()

    /// The sandbox's knobs.
    public struct SandboxSettings: Sendable, Codable, Equatable {
        public var defaultAction: SandboxPolicy.DefaultAction = .errno
        public var openFiles: UInt64 = ResourceLimits.default.openFiles
        public var addressSpaceBytes: UInt64? = ResourceLimits.default.addressSpaceBytes
        public var fileSizeBytes: UInt64? = ResourceLimits.default.fileSizeBytes
        public var cpuSeconds: UInt64? = ResourceLimits.default.cpuSeconds

        public init() {}

        var limits: ResourceLimits {
            ResourceLimits(
                openFiles: openFiles, addressSpaceBytes: addressSpaceBytes, fileSizeBytes: fileSizeBytes,
                cpuSeconds: cpuSeconds)
        }
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DaemonConfiguration()
        socket = try container.decodeIfPresent(String.self, forKey: .socket) ?? defaults.socket
        stateDirectory = try container.decodeIfPresent(String.self, forKey: .stateDirectory) ?? defaults.stateDirectory
        catalogues = try container.decodeIfPresent([String].self, forKey: .catalogues) ?? defaults.catalogues
        runtimeDomain = try container.decodeIfPresent(String.self, forKey: .runtimeDomain) ?? defaults.runtimeDomain
        responseTimeoutSeconds =
            try container.decodeIfPresent(Double.self, forKey: .responseTimeoutSeconds)
            ?? defaults.responseTimeoutSeconds
        logLevel = try container.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
        logTarget = try container.decodeIfPresent(LogTarget.self, forKey: .logTarget) ?? defaults.logTarget
        journalSocket = try container.decodeIfPresent(String.self, forKey: .journalSocket) ?? defaults.journalSocket
        maxMessageBytes = try container.decodeIfPresent(Int.self, forKey: .maxMessageBytes) ?? defaults.maxMessageBytes
        queueLimit = try container.decodeIfPresent(Int.self, forKey: .queueLimit) ?? defaults.queueLimit
        adminGroup = try container.decodeIfPresent(String.self, forKey: .adminGroup) ?? defaults.adminGroup
        credentialsDirectories =
            try container.decodeIfPresent([String].self, forKey: .credentialsDirectories)
            ?? defaults.credentialsDirectories
        interpreters = defaults.interpreters.merging(
            try container.decodeIfPresent([String: String].self, forKey: .interpreters) ?? [:]
        ) { $1 }
        pythonPath = try container.decodeIfPresent([String].self, forKey: .pythonPath) ?? defaults.pythonPath
        handshakeTimeoutSeconds =
            try container.decodeIfPresent(Double.self, forKey: .handshakeTimeoutSeconds)
            ?? defaults.handshakeTimeoutSeconds
        sandbox = try container.decodeIfPresent(SandboxSettings.self, forKey: .sandbox) ?? defaults.sandbox
        discovery = try container.decodeIfPresent(DiscoverySettings.self, forKey: .discovery) ?? defaults.discovery
    }

    /// Reads a JSON configuration file; unknown keys are refused so that a typo does not go unnoticed.
    public static func load(path: String) throws(ConfigurationError) -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the configuration file \(path)")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let known = Set(CodingKeys.allCases.map(\.stringValue))
            let unknown = object.keys.filter { !known.contains($0) }.sorted()
            if !unknown.isEmpty {
                throw ConfigurationError(
                    "\(path): unknown setting(s) \(unknown.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))"
                )
            }
        }
        do {
            let configuration = try JSONDecoder().decode(DaemonConfiguration.self, from: data)
            try configuration.validate()
            return configuration
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(path) is not a valid configuration: \(error)")
        }
    }

    /// Checks values that would only fail later, and less clearly.
    public func validate() throws(ConfigurationError) {
        guard responseTimeoutSeconds > 0 else { throw ConfigurationError("responseTimeoutSeconds must be above 0") }
        guard maxMessageBytes >= 1024 else { throw ConfigurationError("maxMessageBytes must be at least 1024") }
        guard queueLimit >= 1 else { throw ConfigurationError("queueLimit must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ConfigurationError(
                "logLevel \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard !runtimeDomain.isEmpty, !runtimeDomain.contains("/") else {
            throw ConfigurationError("runtimeDomain must be a host name")
        }
        try discovery.validate()
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case socket, stateDirectory, catalogues, runtimeDomain, responseTimeoutSeconds, logLevel, logTarget,
            journalSocket, maxMessageBytes, queueLimit
        case adminGroup, credentialsDirectories, interpreters, pythonPath, handshakeTimeoutSeconds, sandbox
        case discovery
    }
}

/// A configuration that cannot be used; the message names the setting.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
