import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL
import RethinkMessages

/// The network catalogue's HTTP client: GET over HTTPS with the system trust store (plus the operator's CA
/// bundle), a connect timeout and a deadline for the whole fetch, a size limit checked while the body
/// arrives, redirects followed by hand (so each hop is checked against the HTTPS policy and the host
/// overrides), and plain HTTP only for hosts the operator named.
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
        enum Kind: Sendable { case unreachable, timedOut, refused, tooLarge }
        let kind: Kind
        let description: String
    }

    private let client: HTTPClient
    private let configuration: DiscoveryConfiguration
    /// Host -> port from `resolve` entries that name one.
    private let ports: [String: Int]

    init(configuration: DiscoveryConfiguration) throws(DeploymentFailure) {
        self.configuration = configuration
        var tls = TLSConfiguration.makeClientConfiguration()
        if let bundle = configuration.caBundle {
            guard FileManager.default.isReadableFile(atPath: bundle) else {
                throw DeploymentFailure(.unsupported, "discovery.caBundle \(bundle) cannot be read")
            }
            tls.additionalTrustRoots = [.file(bundle)]
        }
        var overrides: [String: String] = [:]
        var ports: [String: Int] = [:]
        for (host, target) in configuration.resolve {
            let (address, port) = StubFetcher.split(target)
            overrides[host.lowercased()] = address
            if let port { ports[host.lowercased()] = port }
        }
        self.ports = ports
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout, read: configuration.fetchTimeout))
        httpConfiguration.dnsOverride = overrides
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(30))
        // A domain that cannot be reached gets its answer now, not after retries until the deadline.
        pool.retryConnectionEstablishment = false
        httpConfiguration.connectionPool = pool
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
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

    func shutdown() async {
        try? await client.shutdown()
    }

    /// GETs `url` with at most `limit` bytes of body, following up to `maxRedirects` redirects, all within
    /// `fetchTimeout`. The deadline is enforced here by cancelling the fetch: AsyncHTTPClient's own deadline
    /// does not stop a body that trickles in slowly.
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
        let deadline = NIODeadline.now() + configuration.fetchTimeout
        var current = url
        for _ in 0...configuration.maxRedirects {
            let target = try connectionURL(for: current)
            let response: HTTPClientResponse
            var request = HTTPClientRequest(url: target)
            request.headers.add(name: "User-Agent", value: "rethink-runtimed")
            request.headers.add(name: "Accept", value: "application/json, application/octet-stream, */*")
            do {
                response = try await client.execute(request, deadline: deadline)
            } catch {
                throw classify(error, url: current)
            }
            let status = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(status) {
                guard let location = response.headers.first(name: "Location"),
                    let next = URL(string: location, relativeTo: URL(string: current))?.absoluteURL.absoluteString
                else {
                    throw Failure(
                        kind: .refused, description: "\(current) redirects (\(status)) without a usable Location")
                }
                current = next
                continue
            }
            if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
                throw Failure(
                    kind: .tooLarge, description: "\(current) is \(length) bytes, more than the limit of \(limit)")
            }
            do {
                let body = try await response.body.collect(upTo: limit)
                return Response(status: status, body: Array(buffer: body), url: current)
            } catch is NIOTooManyBytesError {
                throw Failure(kind: .tooLarge, description: "\(current) is more than the limit of \(limit) bytes")
            } catch {
                throw classify(error, url: current)
            }
        }
        throw Failure(kind: .refused, description: "\(url): more than \(configuration.maxRedirects) redirects")
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

    private func classify(_ error: Error, url: String) -> Failure {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout:
                return Failure(
                    kind: .timedOut,
                    description: "\(url) did not arrive within \(configuration.fetchTimeout.nanoseconds / 1_000_000) ms"
                )
            case .connectTimeout:
                return Failure(
                    kind: .unreachable,
                    description:
                        "\(url) is unreachable (no connection within \(configuration.connectTimeout.nanoseconds / 1_000_000) ms)"
                )
            default:
                break
            }
        }
        if error is NIOSSLError || "\(type(of: error))".contains("SSL") || "\(error)".contains("handshake") {
            return Failure(kind: .refused, description: "TLS with \(url) failed (certificate not trusted?): \(error)")
        }
        return Failure(kind: .unreachable, description: "\(url) is unreachable: \(error)")
    }
}
