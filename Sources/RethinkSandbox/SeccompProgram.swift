import CRethinkSpawn
import CSeccomp
import Glibc

/// A compiled seccomp filter: classic BPF (`struct sock_filter[]`), ready for the spawn shim.
///
/// Compiled with libseccomp in the daemon, once per (language, default action), so the child
/// only has to hand the bytes to the kernel. libseccomp 2.5.4 has no `seccomp_export_bpf_mem`,
/// so the program goes through a memfd.
struct SeccompProgram: Sendable {
    /// The BPF instructions, 8 bytes each.
    let bytes: [UInt8]

    var instructionCount: Int { bytes.count / 8 }

    /// Filters for x86_64 only: any other architecture's calls (i386 via `int 0x80`, x32 via
    /// the x32 bit) kill the process whatever the default action, as no stub has a reason to make them.
    /// The network calls are allowed here; a confined stub's are handed to the daemon by the supervision
    /// filter stacked beside it (``compileSupervision()``).
    static func compile(language: StubLanguage, defaultAction: SandboxPolicy.DefaultAction) throws(SandboxError)
        -> SeccompProgram
    {
        let deny = defaultAction == .kill ? rt_scmp_act_kill_process() : rt_scmp_act_errno(UInt16(EPERM))
        guard let context = seccomp_init(deny) else {
            throw SandboxError(.filterCompilation, "seccomp_init failed: is libseccomp installed and working?")
        }
        defer { seccomp_release(context) }

        try check(
            seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, rt_scmp_act_kill_process()),
            "setting the foreign-architecture action")
        try optimize(context)
        for rule in SyscallRule.rules(for: language) {
            try add(rule, to: context)
        }

        return SeccompProgram(bytes: instructionGuard(deny: deny) + (try export(context)))
    }

    /// The supervision filter a confined stub gets first, beside its allowlist: everything is allowed but the
    /// calls that name a network destination, which go to the daemon's ``NetworkSupervisor`` (user
    /// notification). Stacked filters take the strictest answer, so the allowlist still refuses what it
    /// refuses, and these calls are notified where the allowlist allows them. It is a filter of its own so
    /// that the spawn shim can install it (and hand its listener to the daemon) first, while the rest of the
    /// confinement is set up, instead of waiting for the daemon at the end.
    static func compileSupervision() throws(SandboxError) -> SeccompProgram {
        guard let context = seccomp_init(rt_scmp_act_allow()) else {
            throw SandboxError(.filterCompilation, "seccomp_init failed: is libseccomp installed and working?")
        }
        defer { seccomp_release(context) }
        try optimize(context)
        for rule in SyscallRule.supervisionRules {
            try add(rule, to: context)
        }
        return SeccompProgram(bytes: try export(context))
    }

    /// A binary tree of system call numbers instead of libseccomp's default linear list. The kernel runs a
    /// new filter once per system call number when it is installed (to find the calls it may allow without
    /// running it again), so a linear list of ~150 calls costs every spawn ~0.2 ms more in `seccomp(2)`
    /// (measured here: 0.36 ms linear, 0.18 ms as a tree); a tree also costs each checked call fewer steps.
    private static func optimize(_ context: scmp_filter_ctx) throws(SandboxError) {
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2), "choosing the binary-tree layout")
    }

    private static func export(_ context: scmp_filter_ctx) throws(SandboxError) -> [UInt8] {
        let memfd = rt_memfd_create("rethink-seccomp", RT_MFD_CLOEXEC)
        guard memfd >= 0 else {
            let error = Glibc.errno
            throw SandboxError(
                .filterCompilation,
                "memfd_create for the seccomp program failed: \(SandboxError.describe(errno: error))",
                errno: error)
        }
        defer { close(memfd) }
        try check(seccomp_export_bpf(context, memfd), "exporting the BPF program")
        return try readAll(memfd)
    }

    private static func add(_ rule: SyscallRule, to context: scmp_filter_ctx) throws(SandboxError) {
        let number = seccomp_syscall_resolve_name(rule.name)
        guard number >= 0 else {
            throw SandboxError(.filterCompilation, "libseccomp does not know the system call \(rule.name)")
        }
        let action: UInt32
        switch rule.action {
        case .allow: action = rt_scmp_act_allow()
        case .fail(let error): action = rt_scmp_act_errno(UInt16(error))
        case .notify: action = rt_scmp_act_notify()
        }
        let comparisons = rule.conditions.map { condition -> scmp_arg_cmp in
            switch condition.comparison {
            case .equal(let value):
                return rt_scmp_arg(condition.argument, SCMP_CMP_EQ, value, 0)
            case .maskedEqual(let mask, let value):
                return rt_scmp_arg(condition.argument, SCMP_CMP_MASKED_EQ, mask, value)
            case .notEqual(let value):
                return rt_scmp_arg(condition.argument, SCMP_CMP_NE, value, 0)
            }
        }
        let result = comparisons.withUnsafeBufferPointer { buffer in
            seccomp_rule_add_array(context, action, number, UInt32(buffer.count), buffer.baseAddress)
        }
        try check(result, "adding the rule for \(rule.name)")
    }

    private static func check(_ result: Int32, _ what: String) throws(SandboxError) {
        guard result < 0 else { return }
        throw SandboxError(
            .filterCompilation, "libseccomp failed \(what): \(SandboxError.describe(errno: -result))", errno: -result)
    }

    private static func readAll(_ fd: Int32) throws(SandboxError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count < 0 && Glibc.errno == EINTR { continue }
            guard count >= 0 else {
                let error = Glibc.errno
                throw SandboxError(
                    .filterCompilation, "reading the BPF program back failed: \(SandboxError.describe(errno: error))",
                    errno: error)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            offset += off_t(count)
        }
    }

    /// A few instructions run before libseccomp's program: refuse `ioctl(TIOCSTI)` and
    /// `ioctl(TIOCLINUX)`, which type into a terminal, comparing only the low 32 bits of the
    /// request as the kernel does. libseccomp compares all 64 bits, so an allow rule "request !=
    /// TIOCSTI" would let 0x1_0000_5412 through.
    static func instructionGuard(deny: UInt32) -> [UInt8] {
        let auditArchX86_64: UInt32 = 0xC000_003E
        let ioctlNumber: UInt32 = 16
        let tiocsti: UInt32 = 0x5412
        let tioclinux: UInt32 = 0x541C
        let load: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
        let jumpIfEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
        let ret: UInt16 = 0x06  // BPF_RET | BPF_K
        // seccomp_data: nr at 0, arch at 4, args from 16; the low half of args[1] is at 24.
        let instructions: [(UInt16, UInt8, UInt8, UInt32)] = [
            (load, 0, 0, 4),
            (jumpIfEqual, 0, 6, auditArchX86_64),  // other arch: on to libseccomp's program
            (load, 0, 0, 0),
            (jumpIfEqual, 0, 4, ioctlNumber),  // not ioctl: on
            (load, 0, 0, 24),
            (jumpIfEqual, 1, 0, tiocsti),
            (jumpIfEqual, 0, 1, tioclinux),
            (ret, 0, 0, deny),
        ]
        return instructions.flatMap { code, jt, jf, k in
            withUnsafeBytes(of: code.littleEndian) { Array($0) } + [jt, jf]
                + withUnsafeBytes(of: k.littleEndian) { Array($0) }
        }
    }
}
