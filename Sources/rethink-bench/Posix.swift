#if canImport(Glibc)
    import Glibc
#endif

/// Thin wrappers over the blocking system calls the client and the relay use: they keep each hop a single
/// read or write, which is what the benchmark wants to compare.
enum Posix {
    static func errorText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// Writes every byte, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw BenchError("write failed: \(errorText()); did the peer close the connection?")
            }
            offset += written
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0) }
    }

    /// Waits up to `timeoutMillis` for `fd` to be readable; false when the time passed first.
    static func waitReadable(_ fd: Int32, timeoutMillis: Int32) throws -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, timeoutMillis)
            if ready < 0 {
                if errno == EINTR { continue }
                throw BenchError("poll failed: \(errorText())")
            }
            return ready > 0
        }
    }

    static func closeOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// A unix-socket address for `path`; throws when the path does not fit in `sun_path`.
    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw BenchError(
                "socket path \(path) is \(bytes.count) bytes; the limit is \(capacity - 1): use a shorter path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// A listening unix stream socket at `path` (an existing file there is replaced), close-on-exec.
    static func listenUnix(_ path: String) throws -> Int32 {
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw BenchError("cannot create a socket: \(errorText())") }
        var address = try unixAddress(path)
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            throw BenchError("cannot listen on \(path): \(errorText()); is its directory writable?")
        }
        return listener
    }

    /// The next connection on `listener` (close-on-exec), retrying interrupted and aborted accepts.
    static func acceptClient(_ listener: Int32) throws -> Int32 {
        while true {
            let client = accept(listener, nil, nil)
            if client >= 0 {
                closeOnExec(client)
                return client
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            throw BenchError("accept failed: \(errorText())")
        }
    }

    /// A blocking stream socket connected to the unix socket at `path` (close-on-exec).
    static func connectUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("cannot create a socket: \(errorText())") }
        var address = try unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = errorText()
            close(fd)
            throw BenchError(
                "cannot connect to \(path): \(reason); is the server running there, and under its connection limits?")
        }
        return fd
    }
}
