import NIOCore

/// How the network catalogue finds and trusts stubs it has never seen (SPEC section 7): where it looks,
/// which TLS roots and signing keys it trusts, and the limits that keep a slow or hostile domain from
/// stalling or filling the runtime.
public struct DiscoveryConfiguration: Sendable {
    /// Whether to look on the network at all once the local catalogue has no descriptor.
    public var enabled: Bool = true
    /// The runtime's own catalogue domain, asked last: `https://<domain>/.well-known/protocolstub/<key>`.
    public var catalogueDomain: String?
    /// Static host overrides, like curl's `--resolve`: host -> `address` or `address:port`. Also how names
    /// under the reserved top-level domains (`.test`, `.example`, `.invalid`, `.localhost`) are reached:
    /// without an override they are never looked up on the network.
    public var resolve: [String: String] = [:]
    /// Ed25519 public keys (base64); when any is set, every network package must be signed by one of them.
    public var trustedKeys: [String] = []
    /// A PEM bundle of CA certificates trusted in addition to the system's.
    public var caBundle: String?
    /// Hosts that may be fetched over plain `http://` (all others: HTTPS only).
    public var insecureHosts: Set<String> = []
    public var connectTimeout: TimeAmount = .seconds(5)
    /// The whole fetch of a descriptor or a package, redirects included.
    public var fetchTimeout: TimeAmount = .seconds(20)
    public var maxDescriptorBytes: Int = 64 * 1024
    public var maxPackageBytes: Int = 16 << 20
    /// What an archive may unpack to.
    public var maxUnpackedBytes: Int = 64 << 20
    public var maxArchiveFiles: Int = 1000
    public var maxRedirects: Int = 3
    /// How long "no descriptor on the network" is remembered before the domain is asked again.
    public var negativeCacheTime: TimeAmount = .seconds(30)
    /// How often a cached network descriptor is checked for a newer `version`: on the next deploy after
    /// this long, and periodically for live stubs (0 turns the periodic check off).
    public var versionCheckInterval: TimeAmount = .seconds(300)

    public init() {}

    /// The reserved top-level domains of RFC 2606 and 6761, which are never asked on the network unless
    /// `resolve` names the host.
    static let reservedSuffixes = [".test", ".example", ".invalid", ".localhost"]
}
