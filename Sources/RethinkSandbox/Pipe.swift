import CRethinkSpawn
import Glibc

/// One close-on-exec pipe for a stub's stdio; the child's end is put on 0, 1 or 2 by the shim.
struct Pipe {
    let readEnd: CInt
    let writeEnd: CInt

    init(for stream: String, of executable: String) throws(SandboxError) {
        var fds: [CInt] = [-1, -1]
        guard rt_pipe_cloexec(&fds) == 0 else {
            let error = Glibc.errno
            throw SandboxError(
                .descriptors,
                "cannot start \(executable): creating its \(stream) pipe failed: \(SandboxError.describe(errno: error)); "
                    + "the daemon may have reached its open-file limit (RLIMIT_NOFILE)", errno: error)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    func closeBoth() {
        close(readEnd)
        close(writeEnd)
    }
}
