import RethinkMessages

#if canImport(Glibc)
    import Glibc
#endif

/// The measuring client's connection to the daemon or the relay: a blocking unix socket, so that what the
/// client costs per message is one system call and a byte scan rather than event-loop scheduling.
///
/// `@unchecked Sendable`: during a pipelined phase the reader thread alone uses `lines` and the writer
/// alone writes; the phase joins the reader before the connection is used again.
final class ServerConnection: @unchecked Sendable {
    let fd: Int32
    var lines = LineBuffer()
    let greeting: Greeting

    /// What the server said on connect (the SPEC section 5 greeting, or the relay's copy of it).
    struct Greeting {
        let runtimeURL: String
        let clientURL: String
        /// True when the server is the raw relay: its answers are the requests echoed back, with no code.
        let isRawEcho: Bool
    }

    init(socketPath: String, timeoutMillis: Int32) throws {
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw BenchError("cannot create a socket: \(Posix.errorText())") }
        var address = try Posix.unixAddress(socketPath)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = Posix.errorText()
            close(fd)
            throw BenchError("cannot connect to \(socketPath): \(reason); is the server running there?")
        }
        let line = try lines.nextLine(from: fd, timeoutMillis: timeoutMillis)
        let text = String(decoding: line, as: UTF8.self)
        guard let message = try? Message.parse(line), let value = message.bodyValue,
            let runtimeURL = value["runtimeURL"]?.stringValue, let clientURL = value["clientURL"]?.stringValue
        else {
            close(fd)
            throw BenchError(
                "the first line from \(socketPath) is not a greeting with runtimeURL and clientURL: \(text)")
        }
        greeting = Greeting(
            runtimeURL: runtimeURL, clientURL: clientURL, isRawEcho: value["relay"]?.stringValue == "raw-echo")
    }

    deinit {
        close(fd)
        lines.deallocate()
    }
}
