import ArgumentParser
import Foundation
import RethinkMessages

#if canImport(Glibc)
    import Glibc
#endif

/// `rethink-bench clients`: holds many idle client connections open, so that a script can read what each
/// costs the daemon in memory while they are all connected.
struct ClientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Open N idle client connections, read each greeting, hold them until stdin ends, then close them.",
        discussion: """
            Prints "<N> clients connected in <s> s" and a JSON line once every greeting is read (stdout is \
            flushed then), then waits for end of file on stdin before closing the connections. Raises its own \
            open-file limit to the hard limit; fails, saying so, when that is too low for N.
            """)

    @Option(help: "rethink-runtimed's client socket.")
    var socket: String

    @Option(help: "How many connections to hold.")
    var count = 10_000

    @Option(help: "Connections opened before their greetings are read (below the daemon's listen backlog).")
    var batch = 256

    @Option(help: "Seconds to wait for each greeting.")
    var timeout = 20

    func validate() throws {
        guard count > 0, batch > 0, timeout > 0 else {
            throw ValidationError("--count, --batch and --timeout must be positive")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        try Self.raiseOpenFileLimit(toHold: count)
        var fds: [Int32] = []
        fds.reserveCapacity(count)
        defer { for fd in fds { close(fd) } }
        let start = MonotonicClock.now()
        while fds.count < count {
            let opened = fds.count
            for _ in 0..<min(batch, count - opened) { fds.append(try Posix.connectUnix(socket)) }
            for index in opened..<fds.count { try readGreeting(fds[index], number: index) }
        }
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        print(String(format: "%d clients connected in %.3f s", count, seconds))
        let report: JSONValue = [
            "mode": "clients", "clients": .int(Int64(count)), "seconds": .double((seconds * 1000).rounded() / 1000),
        ]
        print(report.jsonString)
        fflush(nil)  // every stream: the script waits for these lines before it measures
        var byte: UInt8 = 0
        while true {
            let got = read(0, &byte, 1)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
        }
    }

    /// Reads up to the greeting's newline; nothing else is due on an idle connection.
    private func readGreeting(_ fd: Int32, number: Int) throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var line: [UInt8] = []
        while !line.contains(0x0A) {
            guard try Posix.waitReadable(fd, timeoutMillis: Int32(timeout * 1000)) else {
                throw BenchError("connection \(number + 1): no greeting within \(timeout) s")
            }
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw BenchError(
                    "connection \(number + 1): the daemon closed it before its greeting"
                        + (got < 0 ? " (\(Posix.errorText()))" : "") + "; see its log")
            }
            line.append(contentsOf: buffer[0..<got])
        }
        guard ServerConnection.Greeting(line: Array(line.prefix { $0 != 0x0A })) != nil else {
            throw BenchError(
                "connection \(number + 1): the first line is not a greeting: \(String(decoding: line, as: UTF8.self))")
        }
    }

    /// The soft open-file limit goes up to the hard one; N connections need N descriptors and a few more.
    private static func raiseOpenFileLimit(toHold count: Int) throws {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw BenchError("getrlimit failed: \(Posix.errorText())") }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &limit)
            _ = getrlimit(resource, &limit)
        }
        guard limit.rlim_cur >= rlim_t(count + 16) else {
            throw BenchError(
                "\(count) connections need \(count + 16) open files; the limit is \(limit.rlim_cur): raise it (ulimit -n)"
            )
        }
    }
}
