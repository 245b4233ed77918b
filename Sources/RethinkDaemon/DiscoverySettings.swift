import NIOCore
import RethinkCatalogue
import RethinkRuntimeUA

/// The `discovery` section of the configuration: how stubs are found on the network (SPEC section 7). Its
/// own unknown keys are refused too, so a misspelt `trustedKeys` cannot silently turn signatures off.
public struct DiscoverySettings: Sendable, Codable, Equatable {
    // The defaults are the catalogue's own (DiscoveryConfiguration), stated there once.
    private static let module = DiscoveryConfiguration()
    public var enabled: Bool = module.enabled
    public var catalogueDomain: String? = module.catalogueDomain
    public var resolve: [String: String] = module.resolve
    public var trustedKeys: [String] = module.trustedKeys
    public var caBundle: String? = module.caBundle
    public var insecureHosts: [String] = module.insecureHosts.sorted()
    public var connectTimeoutSeconds: Double = module.connectTimeout.seconds
    public var fetchTimeoutSeconds: Double = module.fetchTimeout.seconds
    public var maxDescriptorBytes: Int = module.maxDescriptorBytes
    public var maxPackageBytes: Int = module.maxPackageBytes
    public var maxUnpackedBytes: Int = module.maxUnpackedBytes
    public var maxArchiveFiles: Int = module.maxArchiveFiles
    public var maxRedirects: Int = module.maxRedirects
    public var negativeCacheSeconds: Double = module.negativeCacheTime.seconds
    public var versionCheckSeconds: Double = module.versionCheckInterval.seconds

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, catalogueDomain, resolve, trustedKeys, caBundle, insecureHosts, connectTimeoutSeconds
        case fetchTimeoutSeconds, maxDescriptorBytes, maxPackageBytes, maxUnpackedBytes, maxArchiveFiles
        case maxRedirects, negativeCacheSeconds, versionCheckSeconds
    }

    public init(from decoder: Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DiscoverySettings()
        enabled = try container.decode(.enabled, or: defaults.enabled)
        catalogueDomain = try container.decode(.catalogueDomain, or: defaults.catalogueDomain)
        resolve = try container.decode(.resolve, or: defaults.resolve)
        trustedKeys = try container.decode(.trustedKeys, or: defaults.trustedKeys)
        caBundle = try container.decode(.caBundle, or: defaults.caBundle)
        insecureHosts = try container.decode(.insecureHosts, or: defaults.insecureHosts)
        connectTimeoutSeconds = try container.decode(.connectTimeoutSeconds, or: defaults.connectTimeoutSeconds)
        fetchTimeoutSeconds = try container.decode(.fetchTimeoutSeconds, or: defaults.fetchTimeoutSeconds)
        maxDescriptorBytes = try container.decode(.maxDescriptorBytes, or: defaults.maxDescriptorBytes)
        maxPackageBytes = try container.decode(.maxPackageBytes, or: defaults.maxPackageBytes)
        maxUnpackedBytes = try container.decode(.maxUnpackedBytes, or: defaults.maxUnpackedBytes)
        maxArchiveFiles = try container.decode(.maxArchiveFiles, or: defaults.maxArchiveFiles)
        maxRedirects = try container.decode(.maxRedirects, or: defaults.maxRedirects)
        negativeCacheSeconds = try container.decode(.negativeCacheSeconds, or: defaults.negativeCacheSeconds)
        versionCheckSeconds = try container.decode(.versionCheckSeconds, or: defaults.versionCheckSeconds)
    }

    func validate() throws(ConfigurationError) {
        guard connectTimeoutSeconds > 0, fetchTimeoutSeconds > 0 else {
            throw ConfigurationError("discovery: connectTimeoutSeconds and fetchTimeoutSeconds must be above 0")
        }
        guard maxDescriptorBytes > 0, maxPackageBytes > 0, maxUnpackedBytes > 0, maxArchiveFiles > 0,
            maxRedirects >= 0, negativeCacheSeconds >= 0, versionCheckSeconds >= 0
        else {
            throw ConfigurationError("discovery: limits must be positive (maxRedirects and the times may be 0)")
        }
    }

    /// The Runtime UA's view of these settings.
    var configuration: DiscoveryConfiguration {
        var configuration = DiscoveryConfiguration()
        configuration.enabled = enabled
        configuration.catalogueDomain = catalogueDomain
        configuration.resolve = resolve
        configuration.trustedKeys = trustedKeys
        configuration.caBundle = caBundle
        configuration.insecureHosts = Set(insecureHosts.map { $0.lowercased() })
        configuration.connectTimeout = .seconds(fractional: connectTimeoutSeconds)
        configuration.fetchTimeout = .seconds(fractional: fetchTimeoutSeconds)
        configuration.maxDescriptorBytes = maxDescriptorBytes
        configuration.maxPackageBytes = maxPackageBytes
        configuration.maxUnpackedBytes = maxUnpackedBytes
        configuration.maxArchiveFiles = maxArchiveFiles
        configuration.maxRedirects = maxRedirects
        configuration.negativeCacheTime = .seconds(fractional: negativeCacheSeconds)
        configuration.versionCheckInterval = .seconds(fractional: versionCheckSeconds)
        return configuration
    }
}
