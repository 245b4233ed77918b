import NIOCore
import NIOPosix

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

extension ServerBootstrap {
    /// Binds a unix socket at `path` (mode 0666: the daemon tells peers apart by SO_PEERCRED) so that its file
    /// appears only once it is listening and has its final mode: bound under a name of its own first, then
    /// renamed into place, and a client (or a script) that waits for the file never meets ECONNREFUSED or
    /// EACCES. A path too long for a staging name beside it is bound in place. Refuses a path another process
    /// serves. `what` names the socket in the error.
    func bindUnixSocket(at path: String, what: String) async throws -> Channel {
        try SocketActivation.prepareSocketPath(path)
        let staging = path + ".\(getpid())"
        let bound = staging.utf8.count < 108 ? staging : path
        let channel = try await bind(unixDomainSocketPath: bound, cleanupExistingSocketFile: true).get()
        chmod(bound, 0o666)
        guard bound == path || rename(staging, path) == 0 else {
            let error = errno
            unlink(staging)
            try? await channel.close()
            throw ConfigurationError("cannot put the \(what) in place at \(path): \(String(cString: strerror(error)))")
        }
        return channel
    }
}
