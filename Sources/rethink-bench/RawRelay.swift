import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The baseline: a relay that does the daemon's hops (client socket -> stub stdin, stub stdout -> client
/// socket) and nothing else: no JSON, no routing, no sandbox. Each connection gets its own
/// `rethink-echo-stub --raw` and two threads that copy bytes in large blocking reads and writes.
struct RawRelay {
    let socketPath: String
    let stubPath: String

    /// Serves until the process is killed.
    func serve() throws -> Never {
        try Self.acceptLoop(socketPath) { client, number in try start(client: client, number: number) }
    }

    /// Accepts connections on `path` one by one and hands each, numbered from 1, to `connection`, which owns
    /// it from then on unless it throws: then the error is printed and the connection closed.
    static func acceptLoop(_ path: String, _ connection: (Int32, Int) throws -> Void) throws -> Never {
        signal(SIGPIPE, SIG_IGN)
        let listener = try Posix.listenUnix(path)
        var number = 0
        while true {
            let client = try Posix.acceptClient(listener)
            number += 1
            do {
                try connection(client, number)
            } catch {
                FileHandle.standardError.write(Data("rethink-bench relay: connection \(number): \(error)\n".utf8))
                close(client)
            }
        }
    }

    private func start(client: Int32, number: Int) throws {
        let child = try ChildProcess.spawn(stubPath, arguments: ["--raw"])
        try Posix.writeAll(client, Self.greeting(number))
        let inboundDone = DispatchSemaphore(value: 0)
        let inbound = Thread {
            Self.copy(from: client, to: child.input)
            close(child.input)
            inboundDone.signal()
        }
        let outbound = Thread {
            Self.copy(from: child.output, to: client)
            close(child.output)
            shutdown(client, Int32(SHUT_RDWR))
            inboundDone.wait()
            close(client)
            child.wait()
        }
        inbound.start()
        outbound.start()
    }

    /// The same shape as the runtime's greeting (SPEC section 5), marked so the client knows its answers are
    /// plain echoes of its requests. The runtime id is as long as the daemon's UUID, so that requests (which
    /// carry the client URL) have the same size on both servers.
    static func greeting(_ number: Int) -> [UInt8] {
        let runtimeURL = "hyperty-runtime://localhost/00000000-0000-0000-0000-00000000bench"
        let clientURL = "\(runtimeURL)/client/\(number)"
        let line = """
            {"type":"create","from":"\(runtimeURL)/ua","to":"\(clientURL)","body":{"value":{"runtimeURL":"\(runtimeURL)",\
            "clientURL":"\(clientURL)","version":"raw-echo","maxMessageBytes":1048576,"relay":"raw-echo"}}}

            """
        return Array(line.utf8)
    }

    /// Copies until end of stream or an error on either side.
    private static func copy(from source: Int32, to destination: Int32) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = read(source, buffer.baseAddress!, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            guard (try? Posix.writeAll(destination, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))) != nil else {
                return
            }
        }
    }
}
