#if canImport(Glibc)
    import Glibc
#endif

/// Splits a byte stream into `\n`-terminated lines with a length limit (the MiniBUS and the client socket).
///
/// Why hand-written: it must report an over-long line (answered 413) and resynchronise at the next newline
/// instead of failing the connection, which NIO's generic decoders do not do.
public struct LineFramer: Sendable {
    public enum Event: Sendable {
        case line([UInt8])
        /// A line longer than the limit was discarded; `prefix` holds its first bytes, to recover an `id`.
        case oversized(prefix: [UInt8])
    }

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var discarding = false
    private var discardPrefix: [UInt8] = []

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds bytes and hands every complete line (without its newline; a trailing `\r` is removed too).
    /// Feeds a chunk of a stream of messages: `line` gets each whole line; `oversized` gets the head (`id`,
    /// `type`, `from`, `to`) read from the start of each line over the limit, which is dropped, so that its
    /// sender can still be answered about it.
    public mutating func feedMessages(
        _ chunk: UnsafeRawBufferPointer, line: ([UInt8]) -> Void, oversized: (MessageHead) -> Void
    ) {
        feed(chunk) { event in
            switch event {
            case .line(let bytes): line(bytes)
            case .oversized(let prefix): oversized(MessageHead.scan(prefix))
            }
        }
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (Event) -> Void) {
        var start = 0
        let count = chunk.count
        while start < count {
            guard let newline = Self.newline(in: chunk, from: start) else {
                append(UnsafeRawBufferPointer(rebasing: chunk[start..<count]))
                return
            }
            if pending.isEmpty, !discarding, newline - start <= maxLineBytes {
                // The whole line is in this chunk: hand it on without going through `pending`.
                var end = newline
                if end > start, chunk[end - 1] == 0x0D { end -= 1 }
                let line = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
                if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { emit(.line(Array(line))) }
            } else {
                append(UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
                finishLine(emit)
            }
            start = newline + 1
        }
    }

    /// The index of the first `\n` at or after `start`: memchr, which is vectorised, where the generic
    /// `firstIndex(of:)` was a byte loop (6% of the daemon's CPU under pipelined load).
    private static func newline(in chunk: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = chunk.baseAddress, start < chunk.count else { return nil }
        guard let found = memchr(base + start, 0x0A, chunk.count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if discarding { return }
        if pending.count + bytes.count > maxLineBytes {
            discarding = true
            discardPrefix = Array((pending + Array(bytes)).prefix(256))
            pending.removeAll(keepingCapacity: false)
            return
        }
        pending.append(contentsOf: bytes)
    }

    private mutating func finishLine(_ emit: (Event) -> Void) {
        if discarding {
            discarding = false
            emit(.oversized(prefix: discardPrefix))
            discardPrefix = []
            return
        }
        if pending.last == 0x0D { pending.removeLast() }
        let isBlank = pending.allSatisfy { $0 == 0x20 || $0 == 0x09 }
        if !isBlank { emit(.line(pending)) }
        pending.removeAll(keepingCapacity: true)
    }
}
