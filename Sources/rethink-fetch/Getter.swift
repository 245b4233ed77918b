import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL
import RethinkFetchWire

/// One GET with AsyncHTTPClient: the system trust store plus the operator's CA bundle, no redirect followed,
/// the connect timeout and the deadline of the request, and the size limit checked while the body arrives.
struct Getter {
    let request: FetchRequest

    init(_ request: FetchRequest) {
        self.request = request
    }

    func makeClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let bundle = request.caBundle { tls.additionalTrustRoots = [.file(bundle)] }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(
                connect: .milliseconds(request.connectTimeoutMilliseconds),
                read: .milliseconds(request.deadlineMilliseconds)))
        if let address = request.address, let host = URLComponents(string: request.url)?.host {
            configuration.dnsOverride = [host.lowercased(): address]
        }
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(1))
        // A host that cannot be reached gets its answer now, not after retries until the deadline.
        pool.retryConnectionEstablishment = false
        configuration.connectionPool = pool
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The GET, waited for on this thread. Futures, not async: Swift's concurrency runs on libdispatch's
    /// worker threads here, whose monitor reads `/proc/<tid>/stat` of each worker, which the sandbox's Landlock
    /// rules refuse (and libdispatch then traps). NIO's own threads need none of that.
    func get(_ client: HTTPClient) -> (FetchReply, [UInt8]) {
        let url = request.url
        let outgoing: HTTPClient.Request
        do {
            outgoing = try HTTPClient.Request(
                url: url, method: .GET,
                headers: [
                    "User-Agent": "rethink-runtimed", "Accept": "application/json, application/octet-stream, */*",
                ])
        } catch {
            return (FetchReply(failure: .refused, description: "\"\(url)\" cannot be requested: \(error)"), [])
        }
        let deadline = NIODeadline.now() + .milliseconds(request.deadlineMilliseconds)
        let accumulator = ResponseAccumulator(request: outgoing, maxBodySize: request.limit)
        let response: HTTPClient.Response
        do {
            response = try client.execute(request: outgoing, delegate: accumulator, deadline: deadline).wait()
        } catch is ResponseAccumulator.ResponseTooBigError {
            return (
                FetchReply(failure: .tooLarge, description: "\(url) is more than the limit of \(request.limit) bytes"),
                []
            )
        } catch {
            return (classify(error), [])
        }
        let status = Int(response.status.code)
        let location = response.headers.first(name: "Location")
        // A redirect's body is not wanted: the daemon asks again for its Location.
        if FetchReply.redirectStatuses.contains(status) {
            return (FetchReply(status: status, location: location, bodyBytes: 0), [])
        }
        let body = response.body.map { Array(buffer: $0) } ?? []
        return (FetchReply(status: status, location: location, bodyBytes: body.count), body)
    }

    private func classify(_ error: Error) -> FetchReply {
        let url = request.url
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout:
                return FetchReply(
                    failure: .timedOut, description: "\(url) did not arrive within \(request.deadlineMilliseconds) ms")
            case .connectTimeout:
                return FetchReply(
                    failure: .unreachable,
                    description: "\(url) is unreachable (no connection within \(request.connectTimeoutMilliseconds) ms)"
                )
            default:
                break
            }
        }
        if error is NIOSSLError || "\(type(of: error))".contains("SSL") || "\(error)".contains("handshake") {
            return FetchReply(
                failure: .refused, description: "TLS with \(url) failed (certificate not trusted?): \(error)")
        }
        return FetchReply(failure: .unreachable, description: "\(url) is unreachable: \(error)")
    }
}
