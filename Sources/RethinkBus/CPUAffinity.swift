import FoundationEssentials

/// The CPUs this process may run on (its affinity mask, as `taskset` or systemd's `CPUAffinity=` set it).
///
/// Read from `/proc/self/status`: Swift's Glibc module does not import `sched_getaffinity` (it needs
/// `_GNU_SOURCE`) nor the `CPU_COUNT` macro, and no package on the mirror reads the mask.
enum CPUAffinity {
    /// How many CPUs this process may run on; 1 when the mask cannot be read.
    static func usableCPUs() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 1 }
        return count(status: status)
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
