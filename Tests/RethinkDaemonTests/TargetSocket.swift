import Foundation
import RethinkTestKit

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A socket the test owns for the stub to aim at: a TCP listener, a UDP peer (answering each datagram with
/// itself, or keeping them queued), a pathname or an abstract unix listener.
final class TargetSocket: @unchecked Sendable {
    let fd: CInt
    let port: Int
    let path: String
    private let echoDone: DispatchSemaphore?

    private init(fd: CInt, port: Int = 0, path: String = "", echoDone: DispatchSemaphore? = nil) {
        self.fd = fd
        self.port = port
        self.path = path
        self.echoDone = echoDone
    }

    static func tcp(host: String = "127.0.0.1", port: Int = 0) throws -> TargetSocket {
        let (fd, bound) = try inet(Int32(SOCK_STREAM.rawValue), host: host, port: port)
        guard listen(fd, 16) == 0 else { throw TestSetupError("listen on \(host):\(bound): errno \(errno)") }
        return TargetSocket(fd: fd, port: bound)
    }

    static func udp(host: String = "127.0.0.1", echo: Bool) throws -> TargetSocket {
        let (fd, bound) = try inet(Int32(SOCK_DGRAM.rawValue), host: host, port: 0)
        guard echo else { return TargetSocket(fd: fd, port: bound) }
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 2048)
            var peer = sockaddr_storage()
            while true {
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let count = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, 2048, 0, $0, &length) }
                }
                if count <= 0 { break }
                _ = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, count, 0, $0, length) }
                }
            }
            done.signal()
        }
        return TargetSocket(fd: fd, port: bound, echoDone: done)
    }

    static func unix(path: String) throws -> TargetSocket {
        unlink(path)
        return try local(Array(path.utf8), shown: path, path: path)
    }

    static func abstract(name: String) throws -> TargetSocket {
        try local([0] + Array(name.utf8), shown: "@" + name, path: "")
    }

    /// Whether a connection waits to be accepted, within `milliseconds` (0: already); it is accepted and closed.
    func connectionPending(withinMilliseconds milliseconds: Int32) -> Bool {
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, milliseconds) == 1 else { return false }
        let connection = accept(fd, nil, nil)
        if connection >= 0 { Glibc.close(connection) }
        return connection >= 0
    }

    /// A datagram already queued for a peer that does not echo, without waiting.
    func queuedDatagram() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count >= 0 ? Array(buffer[0..<count]) : nil
    }

    func close() {
        if let echoDone {
            shutdown(fd, Int32(SHUT_RDWR))
            echoDone.wait()
        }
        Glibc.close(fd)
        if !path.isEmpty { unlink(path) }
    }

    private static func inet(_ type: Int32, host: String, port: Int) throws -> (CInt, Int) {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard fd >= 0, bound else {
            Glibc.close(fd)
            throw TestSetupError("cannot bind \(host):\(port): errno \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private static func local(_ name: [UInt8], shown: String, path: String) throws -> TargetSocket {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in name.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + name.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
        }
        guard fd >= 0, bound, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw TestSetupError("cannot listen on \(shown): errno \(errno)")
        }
        if !path.isEmpty { chmod(path, 0o777) }
        return TargetSocket(fd: fd, path: path)
    }
}
