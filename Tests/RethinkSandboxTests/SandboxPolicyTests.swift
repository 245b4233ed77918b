import RethinkSandbox
import Testing

/// The policy as data, without processes.
struct SandboxPolicyTests {
    static let neverAllowed = [
        "ptrace", "mount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
        "mount_setattr", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "kexec_load",
        "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "keyctl",
        "add_key", "request_key", "process_vm_readv", "process_vm_writev", "userfaultfd", "acct", "settimeofday",
        "clock_settime", "clock_adjtime", "adjtimex", "io_uring_setup", "io_uring_enter", "io_uring_register",
        "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm", "quotactl", "nfsservctl", "lookup_dcookie",
        "vhangup", "syslog", "fork", "vfork", "clone3", "bind", "listen", "accept", "accept4", "seccomp",
        "memfd_secret", "setuid", "setgid", "chown", "fchownat", "chmod", "fchmodat", "link", "symlink",
    ]

    @Test(arguments: StubLanguage.allCases)
    func noLanguageAllowsADangerousCall(language: StubLanguage) {
        let allowed = Set(SandboxPolicy.forLanguage(language).allowedSyscalls)
        #expect(allowed.intersection(Self.neverAllowed).isEmpty)
        #expect(allowed.contains("read") && allowed.contains("execve") && allowed.contains("exit_group"))
    }

    @Test func javascriptAllowsMoreThanExecutable() {
        let executable = Set(SandboxPolicy.forLanguage(.executable).allowedSyscalls)
        let javascript = Set(SandboxPolicy.forLanguage(.javascript).allowedSyscalls)
        #expect(executable.isStrictSubset(of: javascript))
    }

    @Test(arguments: [
        ("PYTHON", StubLanguage.python), ("python", .python), ("JAVASCRIPT_ECMA6", .javascript),
        ("javascript", .javascript), ("Executable", .executable), ("EXECUTABLE", .executable),
    ])
    func descriptorSpellingsParse(spelling: String, language: StubLanguage) {
        #expect(StubLanguage(descriptorValue: spelling) == language)
    }

    @Test func unknownDescriptorLanguageIsRejected() {
        #expect(StubLanguage(descriptorValue: "COBOL") == nil)
        #expect(StubLanguage(descriptorValue: "") == nil)
    }

    /// The documented defaults. (That a stub cannot dump core, RLIMIT_CORE 0, is checked in a real child by
    /// ChildEnvironmentTests, from its /proc/self/limits.)
    @Test func defaultLimitsAreTheDocumentedOnes() {
        let limits = ResourceLimits.default
        #expect(limits.openFiles == 1024)
        #expect(limits.addressSpaceBytes == nil)
        #expect(limits.cpuSeconds == nil)
    }
}
