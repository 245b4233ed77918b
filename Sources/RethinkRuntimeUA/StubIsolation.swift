import FoundationEssentials
import Logging
import RethinkCatalogue
import RethinkMessages
import RethinkSandbox

/// Works out a stub's ``Isolation`` from its descriptor's `constraints`, the operator's per-domain
/// settings and the files the stub needs: its package directory (read, execute), its interpreter and
/// the stub kit (read), the system files every program needs (read), and nothing else.
enum StubIsolation {
    static func make(
        for descriptor: Descriptor, prepared: PreparedStub, pythonPath: [String], settings: IsolationSettings,
        logger: Logger
    ) throws(DeploymentFailure) -> Isolation? {
        guard settings.enabled else { return nil }
        let overrides = settings.domains[descriptor.domain.value]
        let network = try networkPolicy(descriptor, overrides: overrides, logger: logger)
        var files = Isolation.systemFiles
        files.append(Isolation.FileRule(prepared.packageFile ?? prepared.packageDirectory, .readExecute))
        files.append(Isolation.FileRule(prepared.executable, .readExecute))
        if descriptor.language == .python {
            for directory in pythonPath + localSitePackages {
                files.append(Isolation.FileRule(directory, .read))
            }
        }
        for directory in prepared.kitDirectories {
            files.append(Isolation.FileRule(directory, .read))
        }
        return Isolation(
            identity: Isolation.availableIdentity, packageDirectory: prepared.packageDirectory,
            packageFile: prepared.packageFile, files: files, landlock: settings.landlock,
            scratchBytes: overrides?.scratchBytes ?? settings.scratchBytes, network: network, nice: settings.nice)
    }

    /// Debian's Python looks for the host's own packages in `/usr/local/lib/python3.X/dist-packages` at start
    /// (its `site` module): readable, so that the lookup is not a refusal logged for every Python stub.
    static let localSitePackages: [String] = {
        let root = "/usr/local/lib"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { $0.hasPrefix("python3") }.sorted().map { "\(root)/\($0)/dist-packages" }.filter {
            FileManager.default.fileExists(atPath: $0)
        }
    }()

    /// The limits for `domain`: the configured defaults with the operator's per-domain values over them.
    static func limits(_ defaults: ResourceLimits, for domain: DomainKey, settings: IsolationSettings)
        -> ResourceLimits
    {
        guard let overrides = settings.domains[domain.value] else { return defaults }
        var limits = defaults
        if let value = overrides.memoryBytes { limits.memoryBytes = value }
        if let value = overrides.tasks { limits.tasks = value }
        if let value = overrides.openFiles { limits.openFiles = value }
        if let value = overrides.fileSizeBytes { limits.fileSizeBytes = value }
        return limits
    }

    /// `constraints.connect`/`datagram` (unless the operator replaces them) plus the operator's destinations.
    static func networkPolicy(_ descriptor: Descriptor, overrides: DomainSandbox?, logger: Logger)
        throws(DeploymentFailure) -> NetworkPolicy
    {
        var connect: [String] = []
        var datagram: [String] = []
        if overrides?.replaceConstraints != true {
            switch descriptor.constraints {
            case .object(let members):
                for (key, value) in members {
                    switch key {
                    case "connect": connect += try strings(value, key: key, descriptor)
                    case "datagram": datagram += try strings(value, key: key, descriptor)
                    default:
                        logger.info(
                            "\(descriptor.domain)'s descriptor: constraints.\(key) is not one this runtime applies; ignored",
                            metadata: StubMetadata.of(domain: descriptor.domain))
                    }
                }
            case .string(let text) where text.isEmpty:
                break
            default:
                logger.info(
                    "\(descriptor.domain)'s descriptor: constraints is not an object; ignored (no network granted)",
                    metadata: StubMetadata.of(domain: descriptor.domain))
            }
        }
        connect += overrides?.connect ?? []
        datagram += overrides?.datagram ?? []
        do {
            return NetworkPolicy(
                connect: try connect.map { entry throws(NetworkDestinationError) in try NetworkDestination(parsing: entry) },
                datagram: try datagram.map { entry throws(NetworkDestinationError) in try NetworkDestination(parsing: entry) },
                resolvers: NetworkPolicy.systemResolvers())
        } catch {
            throw DeploymentFailure(
                .badDescriptor, "\(descriptor.domain)'s network constraints (\(descriptor.origin)): \(error.message)")
        }
    }

    private static func strings(_ value: JSONValue, key: String, _ descriptor: Descriptor) throws(DeploymentFailure)
        -> [String]
    {
        guard case .array(let items) = value else {
            throw DeploymentFailure(
                .badDescriptor,
                "\(descriptor.origin): constraints.\(key) must be a list of \"host:port\" strings")
        }
        var result: [String] = []
        for item in items {
            guard let text = item.stringValue else {
                throw DeploymentFailure(
                    .badDescriptor, "\(descriptor.origin): constraints.\(key) holds a value that is not a string")
            }
            result.append(text)
        }
        return result
    }
}
