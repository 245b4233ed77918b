import Foundation

/// The two ways of driving requests through a server: pipelined with a window, and one at a time.
enum RoundTrips {
    /// Sends `log.count` requests keeping at most `window` in flight. A reader thread takes the answers
    /// while this thread writes: a server that answers while it reads would otherwise fill the socket
    /// buffers both ways and deadlock. Request i is built from `templates[i % templates.count]`, so several
    /// templates spread the requests round-robin over their domains. Returns the seconds from the first
    /// write to the last answer.
    static func pipelined(
        _ connection: ServerConnection, templates: [RequestTemplate], log: RoundTripLog, window: Int,
        timeoutMillis: Int32
    ) throws -> Double {
        precondition(!templates.isEmpty, "pipelined needs at least one request template")
        let gate = WindowGate()
        let count = log.count
        let reader = Thread {
            do {
                var done = 0
                while done < count {
                    guard try connection.lines.fill(from: connection.fd, timeoutMillis: timeoutMillis) else {
                        throw BenchError("the server closed the connection")
                    }
                    let now = MonotonicClock.now()
                    connection.lines.forEachLine { log.record($0, at: now) }
                    if log.answered > done {
                        gate.answered(log.answered - done)
                        done = log.answered
                    }
                }
                gate.finish()
            } catch {
                gate.fail(Self.unanswered(error, log: log))
            }
        }
        reader.stackSize = 1 << 20
        let start = MonotonicClock.now()
        reader.start()
        var sent = 0
        // The next request's template, counted along instead of a division per request.
        var next = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(window * 400)
        while sent < count {
            let batch = min(try gate.room(sent: sent, window: window), count - sent)
            buffer.removeAll(keepingCapacity: true)
            for offset in 0..<batch {
                templates[next].append(id: log.firstID + sent + offset, to: &buffer)
                next = next + 1 == templates.count ? 0 : next + 1
            }
            let now = MonotonicClock.now()
            for offset in 0..<batch { log.stamp(index: sent + offset, at: now) }
            try Posix.writeAll(connection.fd, buffer)
            sent += batch
        }
        try gate.waitForReader()
        return Double(MonotonicClock.now() - start) / 1e9
    }

    /// Sends `log.count` requests, each after the previous one's answer, from this one thread (no thread
    /// hand-off in the client, so the latency is the server's). `templates` gives each request's template.
    static func oneAtATime(
        _ connection: ServerConnection, log: RoundTripLog, timeoutMillis: Int32, template: (Int) -> RequestTemplate
    ) throws -> Double {
        var buffer: [UInt8] = []
        let start = MonotonicClock.now()
        for index in 0..<log.count {
            try exchange(template(index), index: index, on: connection, log: log, timeoutMillis: timeoutMillis, buffer: &buffer)
        }
        return Double(MonotonicClock.now() - start) / 1e9
    }

    /// Like ``oneAtATime(_:log:timeoutMillis:template:)`` over several servers in turn, request by request: the
    /// i-th request goes to each connection before the (i+1)-th goes to any, so that a slower stretch of the
    /// machine falls on all of them alike (an A/B comparison of first contacts).
    static func interleaved(
        _ connections: [ServerConnection], logs: [RoundTripLog], timeoutMillis: Int32,
        template: (Int, ServerConnection) -> RequestTemplate
    ) throws {
        var buffer: [UInt8] = []
        for index in 0..<(logs.first?.count ?? 0) {
            for (connection, log) in zip(connections, logs) {
                try exchange(
                    template(index, connection), index: index, on: connection, log: log, timeoutMillis: timeoutMillis,
                    buffer: &buffer)
            }
        }
    }

    /// Sends request `index` and reads until its answer is in `log`.
    private static func exchange(
        _ request: RequestTemplate, index: Int, on connection: ServerConnection, log: RoundTripLog,
        timeoutMillis: Int32, buffer: inout [UInt8]
    ) throws {
        do {
            buffer.removeAll(keepingCapacity: true)
            request.append(id: log.firstID + index, to: &buffer)
            log.stamp(index: index, at: MonotonicClock.now())
            try Posix.writeAll(connection.fd, buffer)
            while log.answered <= index {
                guard try connection.lines.fill(from: connection.fd, timeoutMillis: timeoutMillis) else {
                    throw BenchError("the server closed the connection")
                }
                let now = MonotonicClock.now()
                connection.lines.forEachLine { log.record($0, at: now) }
            }
        } catch {
            throw unanswered(error, log: log)
        }
    }

    private static func unanswered(_ error: Error, log: RoundTripLog) -> BenchError {
        let missing = log.unanswered()
        var text = "\(error)"
        if !missing.isEmpty {
            text += "; requests left without an answer, e.g. ids \(missing.map(String.init).joined(separator: ", "))"
        }
        text += " (\(log.answered) of \(log.count) answered)"
        if let problem = log.firstProblem { text += "; first bad answer: \(problem)" }
        return BenchError(text)
    }
}
