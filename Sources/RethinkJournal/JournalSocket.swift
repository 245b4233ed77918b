import CRethinkJournal

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The sending end of journald's native socket (`/run/systemd/journal/socket`, or a namespace's
/// `/run/systemd/journal.NAME/socket`).
///
/// Unconnected: every datagram carries the address, so a restarted journald is reached again without a
/// reconnect. An entry too large for one datagram goes as a sealed memfd (SCM_RIGHTS), as libsystemd does.
public final class JournalSocket: Sendable {
    /// What became of one entry.
    public enum Outcome: Sendable, Equatable {
        case sent
        /// Lossy send only: journald's queue was full, the entry was not written.
        case dropped
        /// The journal could not be reached (errno).
        case failed(Int32)
    }

    public let path: String
    private let descriptor: CInt
    private let address: [UInt8]

    /// Opens a datagram socket for `path`; fails when no socket is there, so that the caller can log to
    /// stderr instead.
    public init(path: String) throws(JournalError) {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: storage.sun_path) else {
            throw JournalError("the journal socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = MemoryLayout<sa_family_t>.size + pathBytes.count + 1
        address = withUnsafeBytes(of: &storage) { Array($0.prefix(length)) }
        // Checked before the socket exists: once every stored property is set, a throwing init still runs
        // deinit, which closes `descriptor`; closing it here as well closed another thread's new descriptor
        // (NIO's, which then crashed on EBADF).
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else {
            throw JournalError("no journal socket at \(path)")
        }
        self.path = path
        let created = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard created >= 0 else { throw JournalError("cannot create a socket for the journal: errno \(errno)") }
        descriptor = created
        // Big entries and bursts: as large a send buffer as the kernel grants (libsystemd asks for 8 MiB).
        var size: CInt = 8 << 20
        setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<CInt>.size))
    }

    deinit {
        close(descriptor)
    }

    /// Sends one entry. A lossy send never blocks: when journald is behind it reports `.dropped`.
    public func send(_ entry: JournalEntry, lossy: Bool) -> Outcome {
        let flags = Int32(MSG_NOSIGNAL) | (lossy ? Int32(MSG_DONTWAIT) : 0)
        let sent = entry.bytes.withUnsafeBytes { payload in
            address.withUnsafeBytes { addr in
                retryingEINTR {
                    sendto(
                        descriptor, payload.baseAddress, payload.count, flags,
                        addr.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(addr.count))
                }
            }
        }
        if sent >= 0 { return .sent }
        let error = errno
        switch error {
        case EAGAIN where lossy: return .dropped
        case EMSGSIZE, ENOBUFS: return sendDescriptor(entry, flags: flags)
        default: return .failed(error)
        }
    }

    private func sendDescriptor(_ entry: JournalEntry, flags: Int32) -> Outcome {
        let memfd = entry.bytes.withUnsafeBytes { rj_sealed_memfd($0.baseAddress, $0.count) }
        guard memfd >= 0 else { return .failed(errno) }
        defer { close(memfd) }
        let result = address.withUnsafeBytes { addr in
            rj_send_fd(descriptor, addr.baseAddress, UInt32(addr.count), memfd, flags)
        }
        if result == 0 { return .sent }
        return errno == EAGAIN && flags & Int32(MSG_DONTWAIT) != 0 ? .dropped : .failed(errno)
    }

    private func retryingEINTR(_ body: () -> Int) -> Int {
        while true {
            let result = body()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}
