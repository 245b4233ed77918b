import Glibc
import RethinkSandbox
import Testing

/// The hostile stub under the real filter: every dangerous call must be refused.
@Suite(.timeLimit(.minutes(2)))
struct HostileStubTests {
    /// Every call the hostile stub makes, with the errno the errno-mode filter must give it.
    static let expectedErrno: [String: Int32] = {
        let refused = [
            "ptrace", "mount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
            "mount_setattr", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "kexec_load",
            "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
            "keyctl", "add_key", "request_key", "process_vm_readv", "process_vm_writev", "userfaultfd", "acct",
            "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "personality", "io_uring_setup",
            "clone_process", "clone_newuser", "fork", "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm",
            "quotactl", "nfsservctl", "lookup_dcookie", "vhangup", "syslog", "ioctl_tiocsti", "ioctl_tiocsti_high",
            "kill_broadcast",
        ]
        var expected = Dictionary(uniqueKeysWithValues: refused.map { ($0, EPERM) })
        expected["clone3"] = ENOSYS  // so that glibc falls back to clone
        expected["socket_netlink"] = EAFNOSUPPORT  // glibc's getaddrinfo copes with this answer
        return expected
    }()

    @Test func everyDeniedCallFailsWithEPERMInErrnoMode() async throws {
        let stub = try TestSupport.hostileStubPath()
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let run = try await TestSupport.run(TestSupport.request(stub, []), in: sandbox)

        #expect(run.status == .exited(0), "stderr: \(run.stderr)")
        var reported: [String: Int32] = [:]
        for line in run.stdoutLines {
            let fields = line.split(separator: " ")
            try #require(fields.count == 2, "unexpected line from the stub: \(line)")
            reported[String(fields[0])] = Int32(fields[1])
        }
        for (name, errno) in Self.expectedErrno.sorted(by: { $0.key < $1.key }) {
            #expect(
                reported[name] == errno,
                "\(name): expected errno \(errno), the stub reported \(reported[name].map(String.init) ?? "nothing")")
        }
        #expect(Set(reported.keys) == Set(Self.expectedErrno.keys))
    }

    @Test(arguments: ["mount", "ptrace", "unshare", "clone_process", "bpf"])
    func deniedCallKillsChildWithSIGSYSInKillMode(call: String) async throws {
        let stub = try TestSupport.hostileStubPath()
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        let run = try await TestSupport.run(
            TestSupport.request(stub, ["--one", call], defaultAction: .kill), in: sandbox)

        #expect(run.status == .signaled(SIGSYS))
        #expect(run.stdout.isEmpty, "the call returned instead of killing: \(run.stdout)")
        #expect(!TestSupport.fileExists("/tmp/core"))
    }

    @Test func allowedCallsStillWorkInKillMode() async throws {
        let stub = try TestSupport.hostileStubPath()
        let sandbox = try Sandbox(logger: TestSupport.logger)
        defer { sandbox.shutdown() }

        // clone3 and AF_NETLINK sockets get a fixed errno even in kill mode, so programs that
        // probe them survive.
        let clone3 = try await TestSupport.run(
            TestSupport.request(stub, ["--one", "clone3"], defaultAction: .kill), in: sandbox)
        let netlink = try await TestSupport.run(
            TestSupport.request(stub, ["--one", "socket_netlink"], defaultAction: .kill), in: sandbox)

        #expect(clone3.status == .exited(0))
        #expect(clone3.stdout == "clone3 \(ENOSYS)\n")
        #expect(netlink.status == .exited(0))
        #expect(netlink.stdout == "socket_netlink \(EAFNOSUPPORT)\n")
    }
}
