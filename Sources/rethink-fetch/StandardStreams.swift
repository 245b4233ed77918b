import Glibc

/// Blocking reads and writes on the fetcher's pipes: one line in, one reply out, nothing else to wait for.
enum StandardStreams {
    /// The bytes of stdin up to the first newline (or its end), nil past `limit` or on a read error.
    static func readLine(limit: Int) -> [UInt8]? {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while line.count <= limit {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return count == 0 && !line.isEmpty ? line : nil }
            if let newline = chunk[..<count].firstIndex(of: UInt8(ascii: "\n")) {
                return line + chunk[..<newline]
            }
            line += chunk[..<count]
        }
        return nil
    }

    /// Writes all of `bytes` to stdout; false when the reader went away.
    static func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}
