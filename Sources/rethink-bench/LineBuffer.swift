#if canImport(Glibc)
    import Glibc
#endif

/// Reads a socket in large chunks and hands out its complete lines in place, without copying them: the
/// reader thread must keep up with a daemon that writes responses in batches.
struct LineBuffer {
    private var storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(capacity: Int = 1 << 18) {
        storage = .allocate(byteCount: capacity, alignment: 1)
    }

    func deallocate() {
        storage.deallocate()
    }

    /// Reads once from `fd`, waiting at most `timeoutMillis`; false at end of stream. Throws on a timeout.
    mutating func fill(from fd: Int32, timeoutMillis: Int32) throws -> Bool {
        guard try Posix.waitReadable(fd, timeoutMillis: timeoutMillis) else {
            throw BenchError("no data from the server for \(timeoutMillis / 1000) s")
        }
        return try readOnce(from: fd)
    }

    /// Reads once from `fd`, which the caller knows is readable; false at end of stream.
    mutating func readOnce(from fd: Int32) throws -> Bool {
        if start > 0 {
            let pending = end - start
            if pending > 0 { memmove(storage.baseAddress!, storage.baseAddress! + start, pending) }
            start = 0
            end = pending
        }
        if end == storage.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: storage.count * 2, alignment: 1)
            larger.copyMemory(from: UnsafeRawBufferPointer(storage))
            storage.deallocate()
            storage = larger
        }
        while true {
            let count = read(fd, storage.baseAddress! + end, storage.count - end)
            if count < 0 {
                if errno == EINTR { continue }
                throw BenchError("read failed: \(Posix.errorText())")
            }
            end += count
            return count > 0
        }
    }

    /// Hands every complete line (without its newline) to `body` and drops it from the buffer.
    mutating func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let base = storage.baseAddress!
        while start < end {
            guard let newline = memchr(base + start, 0x0A, end - start) else { return }
            let length = base.distance(to: newline) - start
            try body(UnsafeRawBufferPointer(start: base + start, count: length))
            start += length + 1
        }
    }

    /// The next complete line, reading as needed; throws at end of stream or after `timeoutMillis` of silence.
    mutating func nextLine(from fd: Int32, timeoutMillis: Int32) throws -> [UInt8] {
        while true {
            var line: [UInt8]?
            if start < end, let newline = memchr(storage.baseAddress! + start, 0x0A, end - start) {
                let length = storage.baseAddress!.distance(to: newline) - start
                line = Array(UnsafeRawBufferPointer(start: storage.baseAddress! + start, count: length))
                start += length + 1
            }
            if let line { return line }
            guard try fill(from: fd, timeoutMillis: timeoutMillis) else {
                throw BenchError("the server closed the connection")
            }
        }
    }
}
