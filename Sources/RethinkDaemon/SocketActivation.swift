import FoundationEssentials
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The client socket's origin: passed by systemd (sd_listen_fds(3) protocol), or bound at a path.
enum SocketActivation {
    /// The name the socket unit gives the client socket (`FileDescriptorName=runtime`).
    static let descriptorName = "runtime"

    /// The passed descriptor named ``descriptorName`` (else the first, 3) when LISTEN_PID names this
    /// process; the variables are then removed so that stubs never see them. Other passed descriptors are
    /// closed: nothing here serves them.
    static func listeningDescriptor() -> CInt? {
        let environment = ProcessInfo.processInfo.environment
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1
        else { return nil }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false) }
        let index = names?.firstIndex { $0 == descriptorName } ?? 0
        let chosen = CInt(3 + min(index, count - 1))
        for descriptor in CInt(3)..<CInt(3 + count) where descriptor != chosen {
            close(descriptor)
        }
        return chosen
    }

    /// Creates the socket's directory and refuses to take over a socket another daemon still serves.
    static func prepareSocketPath(_ path: String) throws {
        let directory = FilePath(path).removingLastComponent().string
        try FileManager.default.createDirectory(
            atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        guard FileManager.default.fileExists(atPath: path) else { return }
        if isServed(path) {
            throw ConfigurationError("another process serves \(path); stop it or choose another --socket")
        }
    }

    private static func isServed(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: path) else { return false }
        let result = address.withSockaddr { connect(fd, $0, $1) }
        return result == 0
    }
}
