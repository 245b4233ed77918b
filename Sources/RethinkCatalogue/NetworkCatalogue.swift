import FoundationEssentials
import Logging
import NIOCore
import RethinkMessages
import RethinkStubPackage
import SystemPackage

/// The network half of the catalogue (SPEC section 7): finds a domain's descriptor at its `.well-known`
/// URI, then at the runtime's catalogue domain; fetches and verifies packages; remembers descriptors in the
/// state directory so that a redeploy of the same version needs no network; and tells the Runtime UA when a
/// domain publishes a newer `version`.
///
/// An actor: deploys of several domains look things up concurrently, and the caches are shared.
public actor NetworkCatalogue {
    /// A descriptor found on the network, with when its version was last confirmed.
    private struct Known {
        let descriptor: Descriptor
        var checked: NIODeadline
    }

    private let configuration: DiscoveryConfiguration
    private let fetcher: StubFetcher
    private let store: PackageStore
    private let descriptorDirectory: String
    private let logger: Logger
    private var known: [DomainKey: Known] = [:]
    /// "No descriptor anywhere" answers, remembered for `negativeCacheTime`.
    private var misses: [DomainKey: (error: DeploymentFailure, until: NIODeadline)] = [:]
    private var nextMissSweep = 1024

    /// `launcher` runs each GET in a sandboxed `rethink-fetch`; nothing is left running between fetches, so
    /// there is nothing to shut down.
    public init(
        configuration: DiscoveryConfiguration, stateDirectory: String, launcher: FetcherLauncher, logger: Logger
    ) throws(DeploymentFailure) {
        self.configuration = configuration
        store = try PackageStore(stateDirectory: stateDirectory, configuration: configuration)
        fetcher = try StubFetcher(configuration: configuration, launcher: launcher)
        descriptorDirectory = FilePath(stateDirectory).appending("descriptors").string
        self.logger = logger
    }

    /// Where `domain`'s descriptor is looked for, in order.
    func candidateURLs(for domain: DomainKey) -> [String] {
        var urls: [String] = []
        let key = domain.value
        let legacyHost = legacyNetworkHost(key)
        if let legacyHost {
            urls.append("https://\(legacyHost)/.well-known/protocolstub/\(key)")
        }
        urls.append("https://\(key)/.well-known/protocolstub/default")
        if let catalogue = configuration.catalogueDomain {
            urls.append("https://\(catalogue)/.well-known/protocolstub/\(key)")
        }
        return urls
    }

    /// For an interworking key `<scheme>.<host>` (xmpp.chat.example): the host, when the first label is a
    /// known legacy scheme. A plain domain key has none.
    private func legacyNetworkHost(_ key: String) -> String? {
        let schemes: Set<String> = [
            "xmpp", "sip", "sips", "irc", "ircs", "mqtt", "mqtts", "nats", "tel", "mailto", "ws", "wss",
        ]
        guard let dot = key.firstIndex(of: "."), schemes.contains(String(key[..<dot])) else { return nil }
        return String(key[key.index(after: dot)...])
    }

    // MARK: Descriptors

    /// `domain`'s descriptor from the network (or from the state directory when its version was confirmed
    /// less than `versionCheckInterval` ago, or when the network cannot be reached).
    public func descriptor(for domain: DomainKey) async throws(DeploymentFailure) -> Descriptor {
        if let known = known[domain], known.checked + configuration.versionCheckInterval > .now() {
            return known.descriptor
        }
        if let miss = misses[domain], miss.until > .now() { throw miss.error }
        let cached = known[domain]?.descriptor ?? loadCached(domain)
        if let cached, let remoteURL = cached.remoteURL {
            switch await publishedVersion(of: cached, at: remoteURL) {
            case .some(let version) where version == cached.version:
                known[domain] = Known(descriptor: cached, checked: .now())
                return cached
            case .none:
                logger.warning(
                    "cannot check \(domain)'s descriptor at \(remoteURL); using the cached version \(cached.version ?? "?")",
                    metadata: StubMetadata.of(domain: domain))
                return cached
            default:
                break
            }
        }
        do {
            let descriptor = try await discover(domain)
            misses[domain] = nil
            known[domain] = Known(descriptor: descriptor, checked: .now())
            return descriptor
        } catch {
            // Only an answer the network gave is remembered: a name refused without asking (a reserved
            // top-level domain, a scheme the policy refuses) costs nothing to refuse again, and a client naming
            // 100,000 such domains would otherwise fill the table for the negative-cache time.
            if error.code == .noDescriptor, candidateURLs(for: domain).contains(where: fetcher.wouldRequest) {
                misses[domain] = (error, .now() + configuration.negativeCacheTime)
                // Expired misses go once the table has doubled since the last sweep: a client naming
                // thousands of unknown domains costs the daemon only what the negative-cache time holds.
                if misses.count >= nextMissSweep {
                    let now = NIODeadline.now()
                    misses = misses.filter { $0.value.until > now }
                    nextMissSweep = max(1024, misses.count * 2)
                }
            }
            throw error
        }
    }

    /// The descriptor `domain` publishes now when its version is newer than `running` (the periodic check of
    /// live stubs); nil when it is not, or when the domain cannot be asked.
    public func newerDescriptor(of domain: DomainKey, running: String?) async -> Descriptor? {
        guard let cached = known[domain]?.descriptor ?? loadCached(domain), let url = cached.remoteURL else {
            return nil
        }
        guard case .some(let answer) = await publishedVersion(of: cached, at: url),
            let published = answer, published != running, DescriptorVersion.isNewer(published, than: running)
        else {
            if known[domain] != nil { known[domain]?.checked = .now() }
            return nil
        }
        guard let fresh = try? await discover(domain), fresh.version != running else { return nil }
        known[domain] = Known(descriptor: fresh, checked: .now())
        return fresh
    }

    /// reTHINK's version check: `<descriptorURL>/version` (a JSON string or number, or plain text); a server
    /// that does not offer it (404) is asked for the whole descriptor. Nil when neither answers.
    private func publishedVersion(of cached: Descriptor, at url: String) async -> String?? {
        if let response = try? await fetcher.get(url + "/version", limit: 1024), response.status == 200 {
            let text = String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
            if let json = try? JSONValue.parse(text) {
                let version: String? =
                    json.stringValue ?? json.intValue.map { String($0) } ?? json.doubleValue.map { "\($0)" }
                return .some(version)
            }
            return text
        }
        guard let response = try? await fetcher.get(url, limit: configuration.maxDescriptorBytes),
            response.status == 200,
            let fresh = try? Descriptor.parse(
                response.body, domain: cached.domain, origin: url, directory: "", binariesDirectory: nil,
                baseURL: response.url)
        else { return .none }
        return .some(fresh.version)
    }

    /// Walks the candidate URLs; the first 200 wins. Not found and unreachable move on to the next place; a
    /// found descriptor that is too large or invalid stops the search. Where `<place>` is not found,
    /// reTHINK's 2019 static layout `<place>.ps.json` (code beside it as `<place>.ps.js`) is asked next.
    private func discover(_ domain: DomainKey) async throws(DeploymentFailure) -> Descriptor {
        var tried: [String] = []
        var candidates: [String] = []
        for url in candidateURLs(for: domain) { candidates += [url, url + ".ps.json"] }
        var unreachable: Set<String> = []
        for url in candidates {
            // A host that could not be reached for `<place>` is not asked again for `<place>.ps.json`.
            if let host = URL(string: url)?.host, unreachable.contains(host) { continue }
            let response: StubFetcher.Response
            do {
                response = try await fetcher.get(url, limit: configuration.maxDescriptorBytes)
            } catch {
                if error.kind == .tooLarge {
                    throw DeploymentFailure(.badDescriptor, "descriptor for \(domain) refused: \(error.description)")
                }
                if let host = URL(string: url)?.host { unreachable.insert(host) }
                tried.append(error.description)
                continue
            }
            guard response.status == 200 else {
                tried.append("\(url) answered \(response.status)")
                continue
            }
            let descriptor = try Descriptor.parse(
                response.body, domain: domain, origin: response.url, directory: "", binariesDirectory: nil,
                baseURL: response.url)
            saveCached(response.body, url: response.url, domain: domain)
            logger.info(
                "found \(domain)'s descriptor at \(response.url) (version \(descriptor.version ?? "none"))",
                metadata: StubMetadata.of(domain: domain))
            return descriptor
        }
        throw DeploymentFailure(
            .noDescriptor,
            "no descriptor for \(domain): not in the local catalogue; " + tried.joined(separator: "; "))
    }

    private func cachePaths(_ domain: DomainKey) -> (descriptor: String, origin: String) {
        let base = FilePath(descriptorDirectory).appending(domain.value).string
        return (base + ".json", base + ".url")
    }

    private func saveCached(_ bytes: [UInt8], url: String, domain: DomainKey) {
        let paths = cachePaths(domain)
        try? FileManager.default.createDirectory(
            atPath: descriptorDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Data(bytes).write(to: URL(fileURLWithPath: paths.descriptor), options: .atomic)
        try? Data(url.utf8).write(to: URL(fileURLWithPath: paths.origin), options: .atomic)
    }

    private func loadCached(_ domain: DomainKey) -> Descriptor? {
        let paths = cachePaths(domain)
        guard let bytes = FileManager.default.contents(atPath: paths.descriptor),
            let url = FileManager.default.contents(atPath: paths.origin).map({ String(decoding: $0, as: UTF8.self) })
        else { return nil }
        return try? Descriptor.parse(
            Array(bytes), domain: domain, origin: url, directory: "", binariesDirectory: nil, baseURL: url)
    }

    // MARK: Packages

    /// For a network descriptor, the verified package's file on disk (fetched unless cached); nil for a
    /// descriptor whose package the local packager handles (inline, after its signature was checked).
    public func package(for descriptor: Descriptor) async throws(DeploymentFailure) -> String? {
        switch descriptor.source {
        case .file:
            return nil
        case .inline(let bytes, _):
            if descriptor.remoteURL != nil {
                try store.checkSignature(bytes, descriptor: descriptor, source: "inline in \(descriptor.origin)")
            }
            return nil
        case .remote(let url):
            if descriptor.sha256 == nil { return try await packageWithoutDigest(descriptor, url: url) }
            if let entry = try store.cachedEntry(for: descriptor) { return entry }
            return try store.store(await fetchPackageBytes(descriptor, url: url), for: descriptor, from: url)
        }
    }

    /// reTHINK's published descriptors give no `sha256`. Such a package is taken as the HTTPS server sends it
    /// (never over plain HTTP): a digest read from the same server would vouch for nothing more. It is fetched
    /// at every deploy, since nothing names the bytes a cached copy would have to match; with trusted keys it
    /// must still carry a good `signature`, so an operator who trusts keys gets no unsigned stub this way.
    private func packageWithoutDigest(_ descriptor: Descriptor, url: String) async throws(DeploymentFailure) -> String {
        guard url.lowercased().hasPrefix("https://") else {
            throw DeploymentFailure(
                .integrity,
                "package of \(descriptor.domain) refused: the descriptor \(descriptor.origin) gives no \"sha256\", and \(url) is not HTTPS"
            )
        }
        let body = try await fetchPackageBytes(descriptor, url: url)
        let digest = PackageSignature.sha256Hex(body)
        logger.notice(
            "\(descriptor.domain)'s descriptor \(descriptor.origin) gives no sha256 (as reTHINK publishes them): running the package \(url) as served over HTTPS, sha256 \(digest)",
            metadata: StubMetadata.of(domain: descriptor.domain))
        return try store.store(body, for: descriptor.withSHA256(digest), from: url)
    }

    /// A package's bytes, within the size limit, or why there are none.
    private func fetchPackageBytes(_ descriptor: Descriptor, url: String) async throws(DeploymentFailure) -> [UInt8] {
        let response: StubFetcher.Response
        do {
            response = try await fetcher.get(url, limit: configuration.maxPackageBytes)
        } catch {
            throw DeploymentFailure(.badPackage, "package of \(descriptor.domain) not fetched: \(error.description)")
        }
        guard response.status == 200 else {
            throw DeploymentFailure(
                .badPackage, "package of \(descriptor.domain) not fetched: \(url) answered \(response.status)")
        }
        return response.body
    }
}
