/*
 * rethink-hostile-stub: a test fixture that tries every system call the
 * sandbox must refuse and prints one line per call, "name errno" (errno 0 when
 * the call succeeded), then exits 0. With "--one NAME" it tries that call only.
 *
 * The arguments are chosen to fail harmlessly even without a sandbox (bad
 * pointers, invalid flags, fd -1): this program must never mount, reboot or
 * load anything, whoever runs it. Unconfined, only these can succeed, and they
 * change nothing outside this process: "personality" (this process's persona),
 * "socket_netlink" (a socket, closed at once), "fork" (the child exits at once
 * and is reaped) and "kill_broadcast" (signal 0 only checks, sends nothing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BAD ((long)1) /* a pointer no call can read */
#define ALL_FLAGS ((long)0xffffffff)

static long try_vhangup(void) {
    /* With a controlling terminal, vhangup would hang it up: refuse to try. */
    int tty = open("/dev/tty", O_RDONLY | O_CLOEXEC);
    if (tty >= 0) {
        close(tty);
        errno = EBUSY;
        return -1;
    }
    return syscall(SYS_vhangup);
}

static long try_fork(void) {
    long pid = syscall(SYS_fork);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return pid;
}

static long try_socket_netlink(void) {
    long fd = syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd >= 0) close((int)fd);
    return fd;
}

struct probe {
    const char *name;
    long nr;
    long a0, a1, a2, a3, a4, a5;
    long (*custom)(void);
};

static const struct probe probes[] = {
    {"ptrace", SYS_ptrace, 3 /* PTRACE_PEEKUSER */, 0, 0, BAD, 0, 0, NULL},
    {"mount", SYS_mount, BAD, BAD, BAD, 0, BAD, 0, NULL},
    {"umount2", SYS_umount2, BAD, ALL_FLAGS, 0, 0, 0, 0, NULL},
    {"fsopen", SYS_fsopen, BAD, ALL_FLAGS, 0, 0, 0, 0, NULL},
    {"fsconfig", SYS_fsconfig, -1, 0xff, BAD, BAD, 0, 0, NULL},
    {"fsmount", SYS_fsmount, -1, ALL_FLAGS, ALL_FLAGS, 0, 0, 0, NULL},
    {"fspick", SYS_fspick, -1, BAD, ALL_FLAGS, 0, 0, 0, NULL},
    {"move_mount", SYS_move_mount, -1, BAD, -1, BAD, ALL_FLAGS, 0, NULL},
    {"open_tree", SYS_open_tree, -1, BAD, ALL_FLAGS, 0, 0, 0, NULL},
    {"mount_setattr", SYS_mount_setattr, -1, BAD, ALL_FLAGS, BAD, 0, 0, NULL},
    {"pivot_root", SYS_pivot_root, BAD, BAD, 0, 0, 0, 0, NULL},
    {"chroot", SYS_chroot, BAD, 0, 0, 0, 0, 0, NULL},
    {"unshare", SYS_unshare, ALL_FLAGS, 0, 0, 0, 0, 0, NULL},
    {"setns", SYS_setns, -1, 0, 0, 0, 0, 0, NULL},
    {"bpf", SYS_bpf, 0xffff, BAD, 0, 0, 0, 0, NULL},
    {"perf_event_open", SYS_perf_event_open, BAD, -1, -1, -1, ALL_FLAGS, 0, NULL},
    {"kexec_load", SYS_kexec_load, 0, 0, BAD, ALL_FLAGS, 0, 0, NULL},
    {"kexec_file_load", SYS_kexec_file_load, -1, -1, 0, BAD, ALL_FLAGS, 0, NULL},
    {"init_module", SYS_init_module, BAD, 0, BAD, 0, 0, 0, NULL},
    {"finit_module", SYS_finit_module, -1, BAD, ALL_FLAGS, 0, 0, 0, NULL},
    {"delete_module", SYS_delete_module, BAD, ALL_FLAGS, 0, 0, 0, 0, NULL},
    {"reboot", SYS_reboot, 0, 0, 0, BAD, 0, 0, NULL},
    {"swapon", SYS_swapon, BAD, ALL_FLAGS, 0, 0, 0, 0, NULL},
    {"swapoff", SYS_swapoff, BAD, 0, 0, 0, 0, 0, NULL},
    {"keyctl", SYS_keyctl, 0xffff, 0, 0, 0, 0, 0, NULL},
    {"add_key", SYS_add_key, BAD, BAD, BAD, 0, 0, 0, NULL},
    {"request_key", SYS_request_key, BAD, BAD, BAD, 0, 0, 0, NULL},
    {"process_vm_readv", SYS_process_vm_readv, -1, BAD, 1, BAD, 1, ALL_FLAGS, NULL},
    {"process_vm_writev", SYS_process_vm_writev, -1, BAD, 1, BAD, 1, ALL_FLAGS, NULL},
    {"userfaultfd", SYS_userfaultfd, ALL_FLAGS, 0, 0, 0, 0, 0, NULL},
    {"acct", SYS_acct, BAD, 0, 0, 0, 0, 0, NULL},
    {"settimeofday", SYS_settimeofday, BAD, BAD, 0, 0, 0, 0, NULL},
    {"clock_settime", SYS_clock_settime, -1, BAD, 0, 0, 0, 0, NULL},
    {"clock_adjtime", SYS_clock_adjtime, -1, BAD, 0, 0, 0, 0, NULL},
    {"adjtimex", SYS_adjtimex, BAD, 0, 0, 0, 0, 0, NULL},
    {"personality", SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */, 0, 0, 0, 0, 0, NULL},
    {"io_uring_setup", SYS_io_uring_setup, 0, BAD, 0, 0, 0, 0, NULL},
    /* A new process, not a thread: CLONE_SIGHAND without CLONE_VM is EINVAL unconfined. */
    {"clone_process", SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0, 0, NULL},
    /* A new user namespace: CLONE_NEWUSER with CLONE_FS is EINVAL unconfined. */
    {"clone_newuser", SYS_clone, CLONE_NEWUSER | CLONE_FS, 0, 0, 0, 0, 0, NULL},
    /* Answered with ENOSYS, not EPERM, so that glibc falls back to clone. */
    {"clone3", SYS_clone3, BAD, 88, 0, 0, 0, 0, NULL},
    {"fork", 0, 0, 0, 0, 0, 0, 0, try_fork},
    {"name_to_handle_at", SYS_name_to_handle_at, -1, BAD, BAD, BAD, ALL_FLAGS, 0, NULL},
    {"open_by_handle_at", SYS_open_by_handle_at, -1, BAD, ALL_FLAGS, 0, 0, 0, NULL},
    {"iopl", SYS_iopl, 4, 0, 0, 0, 0, 0, NULL},
    {"ioperm", SYS_ioperm, 0x10000, 1, 0, 0, 0, 0, NULL},
    {"quotactl", SYS_quotactl, ALL_FLAGS, BAD, 0, BAD, 0, 0, NULL},
    {"nfsservctl", SYS_nfsservctl, 0, 0, 0, 0, 0, 0, NULL},
    {"lookup_dcookie", SYS_lookup_dcookie, 0, BAD, 0, 0, 0, 0, NULL},
    {"vhangup", 0, 0, 0, 0, 0, 0, 0, try_vhangup},
    {"syslog", SYS_syslog, -1, 0, 0, 0, 0, 0, NULL},
    {"ioctl_tiocsti", SYS_ioctl, 0, TIOCSTI, BAD, 0, 0, 0, NULL},
    /* The kernel ignores the high half of the request: this is TIOCSTI too. */
    {"ioctl_tiocsti_high", SYS_ioctl, 0, 0x100005412L, BAD, 0, 0, 0, NULL},
    /* Signal 0 only checks: even unconfined this sends nothing. */
    {"kill_broadcast", SYS_kill, -1, 0, 0, 0, 0, 0, NULL},
    {"socket_netlink", 0, 0, 0, 0, 0, 0, 0, try_socket_netlink},
};

static void run(const struct probe *probe) {
    errno = 0;
    long result = probe->custom != NULL
        ? probe->custom()
        : syscall(probe->nr, probe->a0, probe->a1, probe->a2, probe->a3, probe->a4, probe->a5);
    printf("%s %d\n", probe->name, result < 0 ? errno : 0);
    fflush(stdout);
}

int main(int argc, char **argv) {
    size_t count = sizeof probes / sizeof probes[0];
    if (argc == 3 && strcmp(argv[1], "--one") == 0) {
        for (size_t i = 0; i < count; i++) {
            if (strcmp(probes[i].name, argv[2]) == 0) {
                run(&probes[i]);
                return 0;
            }
        }
        fprintf(stderr, "rethink-hostile-stub: unknown call %s\n", argv[2]);
        return 2;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: rethink-hostile-stub [--one NAME]\n");
        return 2;
    }
    for (size_t i = 0; i < count; i++) run(&probes[i]);
    return 0;
}
