import FoundationEssentials
import NIOCore
import RethinkFetchWire
import RethinkMessages
import RethinkSandbox

/// The network catalogue's HTTP client: GET over HTTPS with the system trust store (plus the operator's CA
/// bundle), a connect timeout and a deadline for the whole fetch, a size limit checked while the body
/// arrives, redirects followed by hand (so each hop is checked against the HTTPS policy and the host
/// overrides), and plain HTTP only for hosts the operator named. The policy is decided here, in the daemon;
/// each hop's GET runs in a sandboxed `rethink-fetch` that may reach only that hop's host (``FetcherLauncher``).
final class StubFetcher: Sendable {
    /// What one GET came back with.
    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
        /// The URL after redirects.
        let url: String
    }

    /// Why a GET did not produce a response; `unreachable` and `timedOut` mean "try the next place".
    struct Failure: Error, Sendable, CustomStringConvertible {
        /// The fetcher's own classification, as it comes over the pipe.
        typealias Kind = FetchReply.Failure
        let kind: Kind
        let description: String
    }

    private let launcher: FetcherLauncher
    private let configuration: DiscoveryConfiguration
    /// Host -> address and host -> port from `resolve` entries.
    private let addresses: [String: String]
    private let ports: [String: Int]

    init(configuration: DiscoveryConfiguration, launcher: FetcherLauncher) throws(DeploymentFailure) {
        self.configuration = configuration
        self.launcher = launcher
        if let bundle = configuration.caBundle {
            guard FileManager.default.isReadableFile(atPath: bundle) else {
                throw DeploymentFailure(.unsupported, "discovery.caBundle \(bundle) cannot be read")
            }
        }
        var addresses: [String: String] = [:]
        var ports: [String: Int] = [:]
        for (host, target) in configuration.resolve {
            let (address, port) = StubFetcher.split(target)
            addresses[host.lowercased()] = address
            if let port { ports[host.lowercased()] = port }
        }
        self.addresses = addresses
        self.ports = ports
    }

    /// `address` or `address:port` or `[v6]:port`.
    static func split(_ target: String) -> (address: String, port: Int?) {
        if target.hasPrefix("["), let close = target.firstIndex(of: "]") {
            let address = String(target[target.index(after: target.startIndex)..<close])
            let rest = target[target.index(after: close)...]
            return (address, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        let parts = target.split(separator: ":")
        if parts.count == 2, let port = Int(parts[1]) { return (String(parts[0]), port) }
        return (target, nil)
    }

    /// Whether `host` may be asked at all: reserved names only through a `resolve` override.
    func mayLookUp(_ host: String) -> Bool {
        let host = host.lowercased()
        if configuration.resolve.keys.contains(where: { $0.lowercased() == host }) { return true }
        return !DiscoveryConfiguration.reservedSuffixes.contains { host.hasSuffix($0) || "." + host == $0 }
    }

    /// GETs `url` with at most `limit` bytes of body, following up to `maxRedirects` redirects, all within
    /// `fetchTimeout`. The deadline is enforced here by cancelling the fetch, which stops its fetcher, whatever
    /// the fetcher's own deadline did with a body that trickles in slowly.
    func get(_ url: String, limit: Int) async throws(Failure) -> Response {
        // A URL the policy refuses is refused at once, without the tasks a fetch needs.
        _ = try connectionURL(for: url)
        let timeout = configuration.fetchTimeout
        let result = await withTaskGroup(of: Result<Response, Failure>?.self) { group in
            group.addTask {
                do throws(Failure) {
                    return .success(try await self.fetch(url, limit: limit))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch result {
        case .success(let response): return response
        case .failure(let failure): throw failure
        case nil:
            throw Failure(
                kind: .timedOut, description: "\(url) did not arrive within \(timeout.nanoseconds / 1_000_000) ms")
        }
    }

    private func fetch(_ url: String, limit: Int) async throws(Failure) -> Response {
        let deadline = ContinuousClock.now + .nanoseconds(configuration.fetchTimeout.nanoseconds)
        var current = url
        for _ in 0...configuration.maxRedirects {
            let target = try connectionURL(for: current)
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw Failure(
                    kind: .timedOut,
                    description: "\(url) did not arrive within \(configuration.fetchTimeout.nanoseconds / 1_000_000) ms"
                )
            }
            let (reply, body) = try await hop(target, limit: limit, within: left)
            if let failure = reply.failure {
                // The fetcher names the URL it was given, with a `resolve` port in it; the operator's is `current`.
                let description = (reply.description ?? "\(target): \(failure)").replacing(target, with: current)
                throw Failure(kind: failure, description: description)
            }
            let status = reply.status ?? 0
            if FetchReply.redirectStatuses.contains(status) {
                guard let location = reply.location,
                    let next = URL(string: location, relativeTo: URL(string: current))?.absoluteURL.absoluteString
                else {
                    throw Failure(
                        kind: .refused, description: "\(current) redirects (\(status)) without a usable Location")
                }
                current = next
                continue
            }
            return Response(status: status, body: body, url: current)
        }
        throw Failure(kind: .refused, description: "\(url): more than \(configuration.maxRedirects) redirects")
    }

    /// One GET of `target` (already checked) by a fetcher that may connect to its host and port only.
    private func hop(_ target: String, limit: Int, within left: Duration) async throws(Failure) -> (FetchReply, [UInt8])
    {
        guard let components = URLComponents(string: target), let host = components.host?.lowercased() else {
            throw Failure(kind: .refused, description: "\"\(target)\" is not a URL")
        }
        let port = components.port ?? (components.scheme?.lowercased() == "http" ? 80 : 443)
        guard let port16 = UInt16(exactly: port) else {
            throw Failure(kind: .refused, description: "\(target): port \(port) is out of range")
        }
        let address = addresses[host]
        let destination = NetworkDestination(
            host: address.flatMap(IPAddress.init).map { .address($0) } ?? .name(address ?? host), ports: port16...port16
        )
        let milliseconds = { (duration: Duration) -> Int64 in
            max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        }
        let request = FetchRequest(
            url: target, limit: limit,
            connectTimeoutMilliseconds: min(configuration.connectTimeout.nanoseconds / 1_000_000, milliseconds(left)),
            deadlineMilliseconds: milliseconds(left), caBundle: configuration.caBundle, address: address)
        return try await launcher.run(request, destination: destination, timeout: left + .seconds(1))
    }

    /// Whether `url` would be requested at all: its scheme, `insecureHosts` and the reserved names allow it.
    func wouldRequest(_ url: String) -> Bool {
        (try? connectionURL(for: url)) != nil
    }

    /// The URL actually requested: the HTTPS policy checked, the port of a `resolve` override applied.
    private func connectionURL(for url: String) throws(Failure) -> String {
        guard var components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased()
        else {
            throw Failure(kind: .refused, description: "\"\(url)\" is not a URL")
        }
        switch scheme {
        case "https": break
        case "http":
            guard configuration.insecureHosts.contains(host) else {
                throw Failure(
                    kind: .refused,
                    description:
                        "refusing plain http for \(url): only HTTPS is used unless discovery.insecureHosts names \(host)"
                )
            }
        default:
            throw Failure(kind: .refused, description: "refusing \(url): only https:// is fetched")
        }
        guard mayLookUp(host) else {
            throw Failure(
                kind: .unreachable,
                description: "\(host) is under a reserved top-level domain and discovery.resolve does not name it")
        }
        if components.port == nil, let port = ports[host] { components.port = port }
        return components.string ?? url
    }
}
