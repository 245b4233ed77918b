#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The CPUs this process may run on (its affinity mask, as `taskset` or systemd's `CPUAffinity=` set it).
///
/// Hand-written: Swift's Glibc module does not import `sched_getaffinity` (it needs `_GNU_SOURCE`) nor the
/// `CPU_COUNT` macro, and no package on the mirror reads the mask; `/proc/self/status` states it.
enum CPUAffinity {
    /// How many CPUs this process may run on; 1 when the mask cannot be read.
    static func usableCPUs() -> Int {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 1 }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 16384)
        var length = 0
        while length < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + length, $0.count - length) }
            guard got > 0 else { break }
            length += got
        }
        return count(status: String(decoding: bytes[..<length], as: UTF8.self))
    }

    /// The bits set in the `Cpus_allowed:` line (hex words separated by commas) of a status text.
    static func count(status: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return 1 }
        let cpus = line.dropFirst("Cpus_allowed:".count).reduce(0) { total, character in
            total + (character.hexDigitValue?.nonzeroBitCount ?? 0)
        }
        return max(cpus, 1)
    }
}
