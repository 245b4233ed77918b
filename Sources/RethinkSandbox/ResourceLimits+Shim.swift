import CRethinkSpawn
import Glibc

extension ResourceLimits {
    /// The limits as the spawn shim takes them, soft = hard. RLIMIT_CORE = 0 is added by the shim.
    var shimLimits: [rt_rlimit] {
        var limits = [rt_rlimit(resource: CInt(RLIMIT_NOFILE.rawValue), soft: openFiles, hard: openFiles)]
        if let addressSpaceBytes {
            limits.append(
                rt_rlimit(resource: CInt(RLIMIT_AS.rawValue), soft: addressSpaceBytes, hard: addressSpaceBytes))
        }
        if let fileSizeBytes {
            limits.append(rt_rlimit(resource: CInt(RLIMIT_FSIZE.rawValue), soft: fileSizeBytes, hard: fileSizeBytes))
        }
        if let cpuSeconds {
            limits.append(rt_rlimit(resource: CInt(RLIMIT_CPU.rawValue), soft: cpuSeconds, hard: cpuSeconds))
        }
        if let memoryBytes {
            limits.append(rt_rlimit(resource: CInt(RLIMIT_DATA.rawValue), soft: memoryBytes, hard: memoryBytes))
        }
        if let tasks {
            limits.append(rt_rlimit(resource: 6 /* RLIMIT_NPROC, which Glibc does not import */, soft: tasks, hard: tasks))
        }
        return limits
    }
}
