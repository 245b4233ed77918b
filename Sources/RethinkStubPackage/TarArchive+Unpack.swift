#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

extension TarArchive {
    /// Writes the entries below `directory` (created, mode 0755; files read-only, 0444 or 0555, so that a
    /// stub running under a uid of its own can read its package and nobody but root can change it). Paths were checked when the archive was
    /// read; files are still created with `O_EXCL | O_NOFOLLOW` below directories this call made, so a
    /// duplicate entry or anything already there is refused rather than followed or overwritten.
    public func unpack(into directory: String) throws(PackageError) {
        try makeDirectory(directory)
        for entry in entries {
            let path = try TarArchive.safePath(entry.path)
            var parent = directory
            for component in path.split(separator: "/").dropLast() {
                parent += "/" + component
                try makeDirectory(parent)
            }
            let target = directory + "/" + path
            if entry.kind == .directory {
                try makeDirectory(target)
                continue
            }
            let mode: mode_t = entry.executable ? 0o555 : 0o444
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            guard fd >= 0 else {
                throw PackageError(.io, "cannot create \(target) from the archive: \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var written = 0
            while written < entry.bytes.count {
                let count = entry.bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    throw PackageError(.io, "cannot write \(target): \(String(cString: strerror(errno)))")
                }
                written += count
            }
        }
    }

    private func makeDirectory(_ path: String) throws(PackageError) {
        if mkdir(path, 0o755) == 0 { return }
        let error = errno
        var info = stat()
        guard error == EEXIST, lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw PackageError(.io, "cannot create the directory \(path): \(String(cString: strerror(error)))")
        }
    }
}
