import NIOCore
import RethinkCatalogue
import RethinkRuntimeUA

/// The `discovery` section of the configuration: how stubs are found on the network (SPEC section 7). Its
/// own unknown keys are refused too, so a misspelt `trustedKeys` cannot silently turn signatures off.
public struct DiscoverySettings: Sendable, Codable, Equatable {
    public var enabled: Bool = true
    public var catalogueDomain: String?
    public var resolve: [String: String] = [:]
    public var trustedKeys: [String] = []
    public var caBundle: String?
    public var insecureHosts: [String] = []
    public var connectTimeoutSeconds: Double = 5
    public var fetchTimeoutSeconds: Double = 20
    public var maxDescriptorBytes: Int = 64 * 1024
    public var maxPackageBytes: Int = 16 << 20
    public var maxUnpackedBytes: Int = 64 << 20
    public var maxArchiveFiles: Int = 1000
    public var maxRedirects: Int = 3
    public var negativeCacheSeconds: Double = 30
    public var versionCheckSeconds: Double = 300

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, catalogueDomain, resolve, trustedKeys, caBundle, insecureHosts, connectTimeoutSeconds
        case fetchTimeoutSeconds, maxDescriptorBytes, maxPackageBytes, maxUnpackedBytes, maxArchiveFiles
        case maxRedirects, negativeCacheSeconds, versionCheckSeconds
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter {
            !known.contains($0)
        }
        guard unknown.isEmpty else {
            throw ConfigurationError(
                "discovery: unknown setting(s) \(unknown.sorted().joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))"
            )
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DiscoverySettings()
        enabled = try container.decode(.enabled, or: defaults.enabled)
        catalogueDomain = try container.decodeIfPresent(String.self, forKey: .catalogueDomain)
        resolve = try container.decode(.resolve, or: defaults.resolve)
        trustedKeys = try container.decode(.trustedKeys, or: defaults.trustedKeys)
        caBundle = try container.decodeIfPresent(String.self, forKey: .caBundle)
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
        configuration.connectTimeout = .nanoseconds(Int64(connectTimeoutSeconds * 1e9))
        configuration.fetchTimeout = .nanoseconds(Int64(fetchTimeoutSeconds * 1e9))
        configuration.maxDescriptorBytes = maxDescriptorBytes
        configuration.maxPackageBytes = maxPackageBytes
        configuration.maxUnpackedBytes = maxUnpackedBytes
        configuration.maxArchiveFiles = maxArchiveFiles
        configuration.maxRedirects = maxRedirects
        configuration.negativeCacheTime = .nanoseconds(Int64(negativeCacheSeconds * 1e9))
        configuration.versionCheckInterval = .nanoseconds(Int64(versionCheckSeconds * 1e9))
        return configuration
    }
}
