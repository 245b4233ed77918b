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

        /// Reads a greeting line; nil when it is not one (no runtimeURL and clientURL in its body's value).
        init?(line: [UInt8]) {
            guard let message = try? Message.parse(line), let value = message.bodyValue,
                let runtimeURL = value["runtimeURL"]?.stringValue, let clientURL = value["clientURL"]?.stringValue
            else { return nil }
            self.runtimeURL = runtimeURL
            self.clientURL = clientURL
            isRawEcho = value["relay"]?.stringValue == "raw-echo"
        }
    }

    init(socketPath: String, timeoutMillis: Int32) throws {
        signal(SIGPIPE, SIG_IGN)
        let fd = try Posix.connectUnix(socketPath)
        self.fd = fd
        let line = try lines.nextLine(from: fd, timeoutMillis: timeoutMillis)
        guard let greeting = Greeting(line: line) else {
            close(fd)
            throw BenchError(
                "the first line from \(socketPath) is not a greeting with runtimeURL and clientURL: \(String(decoding: line, as: UTF8.self))")
        }
        self.greeting = greeting
    }

    deinit {
        close(fd)
        lines.deallocate()
    }
}
