import Foundation

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One `GET /metrics` over the daemon's metrics unix socket. Hand-written (HTTP/1.0, `Connection: close`,
/// read to EOF): rethinkctl would otherwise link an HTTP client library for a single request.
enum MetricsRequest {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func get(socketPath path: String) throws -> (status: Int, body: [UInt8]) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "\(path) is too long for a unix socket path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            throw Failure(
                description: "cannot connect to \(path): \(String(cString: strerror(errno))); is rethink-runtimed running with metrics on? (--metrics-socket)")
        }
        let request = Array("GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else {
            throw Failure(description: "cannot send the request to \(path)")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw Failure(description: "\(path) did not answer with HTTP")
        }
        let statusLine = String(decoding: response[..<(response.firstIndex(of: 13) ?? end.lowerBound)], as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw Failure(description: "\(path) answered \(statusLine)")
        }
        return (status, Array(response[end.upperBound...]))
    }
}
