import CRethinkSpawn
import Glibc
import Synchronization

/// O_PATH descriptors of the system directories and devices every stub's Landlock ruleset names, opened
/// once: each first contact then adds those rules with one system call each instead of four (open, stat,
/// add, close), which is most of what building a ruleset costs.
///
/// Only directories and character devices of ``Isolation/systemFiles`` are kept: their inodes last as long
/// as the daemon (a package upgrade changes what a directory holds, not the directory). Regular files
/// (`/etc/resolv.conf`, often replaced by rename) are opened afresh for every stub, so a rule never names a
/// file that is no longer there.
final class StablePaths: Sendable {
    static let shared = StablePaths(Isolation.systemFiles.map(\.path))

    struct Descriptor: Sendable {
        let fd: CInt
        let isDirectory: Bool
    }

    private let candidates: Set<String>
    private let opened = Mutex<[String: Descriptor?]>([:])

    init(_ paths: [String]) {
        candidates = Set(paths)
    }

    /// The kept descriptor for `path`, opened on first use; nil for a path that is not kept (or missing).
    func descriptor(for path: String) -> Descriptor? {
        guard candidates.contains(path) else { return nil }
        return opened.withLock { opened in
            if let known = opened[path] { return known }
            let descriptor = Self.open(path)
            opened.updateValue(descriptor, forKey: path)
            return descriptor
        }
    }

    private static func open(_ path: String) -> Descriptor? {
        let fd = rt_open_path(path)
        guard fd >= 0 else { return nil }
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : 0
        guard kind == S_IFDIR || kind == S_IFCHR else {
            close(fd)
            return nil
        }
        return Descriptor(fd: fd, isDirectory: kind == S_IFDIR)
    }
}
