import Foundation

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The service manager's end of sd_notify: a datagram socket a test binds and passes as `NOTIFY_SOCKET`.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let descriptor: CInt

    public init(in directory: URL) throws {
        path = directory.appendingPathComponent("notify-\(UUID().uuidString.prefix(6))").path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard descriptor >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, or nil after `seconds` without one.
    public func receive(seconds: Double) -> String? {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(seconds.truncatingRemainder(dividingBy: 1) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Datagrams (with their arrival time) until `seconds` have passed.
    public func collect(seconds: Double) -> [(at: ContinuousClock.Instant, text: String)] {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var result: [(at: ContinuousClock.Instant, text: String)] = []
        while case let left = deadline - ContinuousClock.now, left > .zero {
            let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
            guard let text = receive(seconds: max(seconds, 0.001)) else { continue }
            result.append((ContinuousClock.now, text))
        }
        return result
    }
}
