import CEpoll

#if canImport(Glibc)
    import Glibc
#endif

/// The baseline of the many-domains phase: the raw relay's hops spread over `fanout` echo processes
/// started once, as the daemon's phase spreads its requests over that many stubs. One thread and one epoll
/// loop (like the daemon's bus), no JSON: the client's lines go to the children in turn, a write each, and
/// what the children answer goes back to the client in one write per loop turn. What it measures is the
/// cost of a process per destination on this machine: each line wakes a different process.
struct FanoutRelay {
    let socketPath: String
    let stubPath: String
    let fanout: Int

    /// Serves one connection at a time until the process is killed.
    func serve() throws -> Never {
        signal(SIGPIPE, SIG_IGN)  // before the children: a child that dies must not take the relay with it
        let children = try (0..<fanout).map { _ in try ChildProcess.spawn(stubPath, arguments: ["--raw"]) }
        try RawRelay.acceptLoop(socketPath) { client, number in
            try Posix.writeAll(client, RawRelay.greeting(number))
            try relay(client: client, children: children)
            close(client)
        }
    }

    /// Relays until the client closes its connection; the children stay for the next one.
    private func relay(client: Int32, children: [ChildProcess]) throws {
        let poller = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard poller >= 0 else { throw BenchError("epoll_create1 failed: \(Posix.errorText())") }
        defer { close(poller) }
        // epoll's data word: the child's index, or -1 for the client.
        func watch(_ fd: Int32, _ token: Int) throws {
            var event = epoll_event()
            event.events = UInt32(EPOLLIN.rawValue)
            event.data.u64 = UInt64(bitPattern: Int64(token))
            guard epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event) == 0 else {
                throw BenchError("epoll_ctl failed: \(Posix.errorText())")
            }
        }
        try watch(client, -1)
        for (index, child) in children.enumerated() { try watch(child.output, index) }
        var fromClient = LineBuffer()
        var fromChildren = children.map { _ in LineBuffer(capacity: 4096) }
        var toClient: [UInt8] = []
        toClient.reserveCapacity(1 << 16)
        defer {
            fromClient.deallocate()
            fromChildren.forEach { $0.deallocate() }
        }
        var next = 0
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let ready = epoll_wait(poller, &events, Int32(events.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw BenchError("epoll_wait failed: \(Posix.errorText())")
            }
            for event in events[0..<Int(ready)] {
                let token = Int(Int64(bitPattern: event.data.u64))
                if token < 0 {
                    guard try fromClient.readOnce(from: client) else { return }
                    try fromClient.forEachLine { line in
                        // the line's newline is still in the buffer, right after it: written with it
                        let framed = UnsafeRawBufferPointer(start: line.baseAddress, count: line.count + 1)
                        try Posix.writeAll(children[next].input, framed)
                        next = (next + 1) % children.count
                    }
                } else {
                    guard try fromChildren[token].readOnce(from: children[token].output) else {
                        throw BenchError("echo child \(token) exited")
                    }
                    fromChildren[token].forEachLine { line in
                        toClient.append(contentsOf: line)
                        toClient.append(0x0A)
                    }
                }
            }
            if !toClient.isEmpty {
                try Posix.writeAll(client, toClient)
                toClient.removeAll(keepingCapacity: true)
            }
        }
    }
}
