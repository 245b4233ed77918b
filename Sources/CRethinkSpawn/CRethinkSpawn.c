/* The fork/exec shim: see include/CRethinkSpawn.h for the contract. */
#define _GNU_SOURCE
#include "SpawnInternal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define RT_PACKAGE_TARGET_MAX 1024

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif

/* securebits (linux/securebits.h): no root privileges from uid 0, no keeping capabilities across a
 * uid change, no ambient raise; each with its lock, so the stub cannot undo them. The "no setuid
 * fixup" bit is locked off, so the uid change does clear the capabilities. */
#define RT_SECBIT_NOROOT (1 << 0)
#define RT_SECBIT_NOROOT_LOCKED (1 << 1)
#define RT_SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define RT_SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define RT_SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define RT_SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)

#define RT_LANDLOCK_RULE_PATH_BENEATH 1
struct rt_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct rt_cap_header {
    uint32_t version;
    int pid;
};
struct rt_cap_data {
    uint32_t effective;
    uint32_t permitted;
    uint32_t inheritable;
};

/* struct sigaction as the rt_sigaction system call takes it on x86_64. */
struct rt_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/* Report the failed step through the error pipe and exit; never returns. */
__attribute__((noreturn)) static void rt_child_fail(int pipe_fd, int step) {
    rt_spawn_failure report = {step, errno};
    ssize_t written;
    do {
        written = write(pipe_fd, &report, sizeof report);
    } while (written < 0 && errno == EINTR);
    _exit(127);
}

/* Writes the whole string to path (a /proc or cgroup file); 0 or -1 with errno. */
static int rt_write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t length = 0;
    while (text[length] != 0) length++;
    ssize_t written;
    do {
        written = write(fd, text, length);
    } while (written < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return written == (ssize_t)length ? 0 : -1;
}

/* "<inner> <outer> 1\n" into buffer (at least 40 bytes), without stdio. */
static void rt_format_map(char *buffer, uint32_t inner, uint32_t outer) {
    char digits[12];
    char *out = buffer;
    uint32_t values[2] = {inner, outer};
    for (int v = 0; v < 2; v++) {
        int count = 0;
        uint32_t value = values[v];
        do {
            digits[count++] = (char)('0' + value % 10);
            value /= 10;
        } while (value != 0);
        while (count > 0) *out++ = digits[--count];
        *out++ = ' ';
    }
    *out++ = '1';
    *out++ = '\n';
    *out = 0;
}

/* Its own user namespace (the stub's ids inside map onto the daemon's) and mount namespace. */
static int rt_child_namespaces(const rt_spawn_config *config) {
    if (config->namespaces & RT_NS_USER) {
        /* The daemon is non-dumpable and this child inherited it: its /proc/self files would belong to
         * root, so it could not write its own id maps, nor could the daemon take its listener. execve
         * makes a stub dumpable again anyway; here it is the daemon's copy only until then. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return -1;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return -1;
        char map[40];
        if (rt_write_file("/proc/self/setgroups", "deny") != 0) return -1;
        rt_format_map(map, config->inner_uid, config->outer_uid);
        if (rt_write_file("/proc/self/uid_map", map) != 0) return -1;
        rt_format_map(map, config->inner_gid, config->outer_gid);
        if (rt_write_file("/proc/self/gid_map", map) != 0) return -1;
        return 0;
    }
    if (config->namespaces & RT_NS_MOUNT) return unshare(CLONE_NEWNS);
    return 0;
}

/* "/proc/self/fd/<fd>" into source (at least 32 bytes), without stdio. */
static void rt_fd_path(char *source, int fd) {
    const char prefix[] = "/proc/self/fd/";
    char *out = source;
    for (const char *in = prefix; *in != 0; in++) *out++ = *in;
    char digits[12];
    int count = 0;
    do {
        digits[count++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd != 0);
    while (count > 0) *out++ = digits[--count];
    *out = 0;
}

/* Creates target's missing parent directories (target is absolute, below RT_STUB_ROOT's fresh tmpfs) and
 * target itself, a directory or an empty file like the source held open as fd; then binds the source
 * there, read-only. */
static int rt_bind_read_only(int fd, const char *target) {
    char path[RT_PACKAGE_TARGET_MAX];
    size_t length = 0;
    while (target[length] != 0) length++;
    if (length == 0 || length >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (size_t i = 0; i <= length; i++) path[i] = target[i];
    for (size_t i = sizeof(RT_STUB_ROOT); i < length; i++) {
        if (path[i] != '/') continue;
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        path[i] = '/';
    }
    struct stat info;
    if (fstat(fd, &info) != 0) return -1;
    if (S_ISDIR(info.st_mode)) {
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    } else {
        int placeholder = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
        if (placeholder < 0) return -1;
        close(placeholder);
    }
    char source[32];
    rt_fd_path(source, fd);
    const unsigned long quiet = MS_NOSUID | MS_NODEV;
    if (mount(source, path, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
    return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | quiet, NULL);
}

#define RT_MAX_KEPT_PATHS 16
#define RT_STUB_ROOT_OPTIONS "size=1048576,nr_inodes=512,mode=0755"

/* The stub's own view under RT_STUB_ROOT, in its mount namespace: a read-only tmpfs holding the package
 * (a read-only bind mount of package_dir), the scratch (a size-bounded tmpfs of its own) and, at their
 * own paths, the few things it needs that lived under RT_STUB_ROOT on the host (kept_paths: the stub kit
 * of a checkout in /tmp). Every path the stub is given lies below it or outside RT_STUB_ROOT, so it reaches
 * them whatever the modes of the directories the daemon keeps them in; the rest of the host's
 * RT_STUB_ROOT is hidden from it. */
static int rt_child_stub_root(const rt_spawn_config *config) {
    const unsigned long quiet = MS_NOSUID | MS_NODEV;
    /* Held open across the mount over RT_STUB_ROOT, which hides their paths. */
    int package = -1;
    int kept[RT_MAX_KEPT_PATHS];
    size_t kept_count = config->kept_path_count < RT_MAX_KEPT_PATHS ? config->kept_path_count : RT_MAX_KEPT_PATHS;
    if (config->package_dir != NULL) {
        package = open(config->package_dir, O_PATH | O_CLOEXEC | (config->package_name ? 0 : O_DIRECTORY));
        if (package < 0) return -1;
    }
    for (size_t i = 0; i < kept_count; i++) {
        kept[i] = open(config->kept_paths[i], O_PATH | O_CLOEXEC);
        if (kept[i] < 0) return -1;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    if (mount("tmpfs", RT_STUB_ROOT, "tmpfs", quiet | MS_NOEXEC, RT_STUB_ROOT_OPTIONS) != 0) return -1;
    if (mkdir(RT_STUB_ROOT "/package", 0755) != 0 || mkdir(RT_STUB_ROOT "/scratch", 0700) != 0) return -1;
    if (package >= 0) {
        /* A directory goes on package/ itself; a single file on package/<package_name>. */
        char target[RT_PACKAGE_TARGET_MAX] = RT_STUB_ROOT "/package";
        if (config->package_name != NULL) {
            size_t used = sizeof(RT_STUB_ROOT "/package") - 1, length = 0;
            while (config->package_name[length] != 0) length++;
            if (length == 0 || used + 1 + length >= sizeof target) {
                errno = ENAMETOOLONG;
                return -1;
            }
            target[used] = '/';
            for (size_t i = 0; i <= length; i++) target[used + 1 + i] = config->package_name[i];
        }
        if (rt_bind_read_only(package, target) != 0) return -1;
        close(package);
    }
    for (size_t i = 0; i < kept_count; i++) {
        if (rt_bind_read_only(kept[i], config->kept_paths[i]) != 0) return -1;
        close(kept[i]);
    }
    if (mount("tmpfs", RT_STUB_ROOT "/scratch", "tmpfs", quiet | MS_NOEXEC, config->scratch_options) != 0) return -1;
    return mount(NULL, RT_STUB_ROOT, NULL, MS_REMOUNT | MS_RDONLY | quiet | MS_NOEXEC, RT_STUB_ROOT_OPTIONS);
}

/* Capabilities gone for good: locked securebits, empty bounding and ambient sets; then the uid and
 * gid switch (raw calls: glibc's setresuid would try to signal threads this child does not have). */
static int rt_child_identity(const rt_spawn_config *config) {
    if (config->drop_capabilities) {
        int bits = RT_SECBIT_NOROOT | RT_SECBIT_NOROOT_LOCKED | RT_SECBIT_NO_SETUID_FIXUP_LOCKED |
                   RT_SECBIT_KEEP_CAPS_LOCKED | RT_SECBIT_NO_CAP_AMBIENT_RAISE |
                   RT_SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return -1;
        /* Capabilities are numbered 0..CAP_LAST_CAP without gaps: EINVAL is past the kernel's last. */
        for (int cap = 0; cap < 64; cap++) {
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
            if (errno == EINVAL) break;
            return -1;
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return -1;
    }
    if (config->uid != RT_ID_KEEP) {
        if (syscall(SYS_setgroups, 0, NULL) != 0) return -1;
        if (syscall(SYS_setresgid, config->gid, config->gid, config->gid) != 0) return -1;
        if (syscall(SYS_setresuid, config->uid, config->uid, config->uid) != 0) return -1;
    }
    if (config->drop_capabilities) {
        /* Belt and braces: the uid change (or, in a user namespace, execve with a non-zero uid, no
         * ambient set and an empty bounding set) clears them anyway; a filter above ours (systemd's
         * ~@privileged) may refuse capset, which is fine. */
        struct rt_cap_header header = {0x20080522, 0}; /* _LINUX_CAPABILITY_VERSION_3 */
        struct rt_cap_data data[2] = {{0, 0, 0}, {0, 0, 0}};
        if (syscall(SYS_capset, &header, data) != 0 && errno != EPERM) return -1;
    }
    return 0;
}

/* close_range over everything >= 3 except the kept fds (at most 8). */
static int rt_close_all_but(int pipe_fd, int go_fd, const rt_spawn_config *config) {
    int kept[8] = {pipe_fd, go_fd, config->ruleset_fd, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < config->cgroup_fd_count && i < 5; i++) kept[3 + i] = config->cgroup_fds[i];
    /* Insertion sort of eight numbers. */
    for (int i = 1; i < 8; i++) {
        int fd = kept[i], j = i;
        while (j > 0 && kept[j - 1] > fd) {
            kept[j] = kept[j - 1];
            j--;
        }
        kept[j] = fd;
    }
    unsigned int from = 3;
    for (int i = 0; i < 8; i++) {
        if (kept[i] < (int)from) continue; /* below 3, or a duplicate already kept */
        if ((unsigned int)kept[i] > from && syscall(SYS_close_range, from, (unsigned int)kept[i] - 1, 0U) != 0) {
            return -1;
        }
        from = (unsigned int)kept[i] + 1;
    }
    return (int)syscall(SYS_close_range, from, ~0U, 0U);
}

int rt_reset_signal_dispositions(void) {
    /* The raw system call: glibc's sigaction refuses signals 32 and 33, which a parent may
     * have ignored, and an ignored signal survives execve. */
    struct rt_kernel_sigaction default_action = {0};
    default_action.handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (syscall(SYS_rt_sigaction, sig, &default_action, NULL, sizeof default_action.mask) != 0) return -1;
    }
    return 0;
}

/* The child side: runs between clone and execve, async-signal-safe calls only. */
void rt_child(const rt_spawn_config *config, const struct sock_fprog *prog, int pipe_fd,
                     int go_fd, pid_t parent, int dispositions_default) {
    /* A spawn helper reset every disposition once, at its start, and its clones inherit that; a child
     * of the daemon itself has the daemon's handlers and ignored signals, and resets them here. */
    if (!dispositions_default && rt_reset_signal_dispositions() != 0) rt_child_fail(pipe_fd, RT_STEP_SIGNALS);
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) rt_child_fail(pipe_fd, RT_STEP_SIGNALS);

    if (setsid() < 0) rt_child_fail(pipe_fd, RT_STEP_SETSID);

    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) rt_child_fail(pipe_fd, RT_STEP_PDEATHSIG);
    if (getppid() != parent) {
        errno = ESRCH;
        rt_child_fail(pipe_fd, RT_STEP_PARENT_GONE);
    }

    /* Lift the three fds above 2 first, so none is overwritten by an earlier dup2 and
     * dup2 always clears close-on-exec (it would not when source == target). */
    int fds[3] = {config->stdin_fd, config->stdout_fd, config->stderr_fd};
    int lifted[3];
    for (int i = 0; i < 3; i++) {
        lifted[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (lifted[i] < 0) rt_child_fail(pipe_fd, RT_STEP_DUP2);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(lifted[i], i) < 0) rt_child_fail(pipe_fd, RT_STEP_DUP2);
    }

    /* Close every inherited fd above 2 but the few this child still needs (error pipe, go pipe, Landlock
     * ruleset, cgroup files; all close-on-exec): with hundreds of stubs the daemon holds more fds than a
     * stub's RLIMIT_NOFILE, and an open() here must get a low number. */
    if (rt_close_all_but(pipe_fd, go_fd, config) != 0) rt_child_fail(pipe_fd, RT_STEP_CLOSE_RANGE);

    for (size_t i = 0; i < config->cgroup_fd_count; i++) {
        ssize_t written;
        do {
            written = write(config->cgroup_fds[i], "0", 1);
        } while (written < 0 && errno == EINTR);
        if (written != 1) rt_child_fail(pipe_fd, RT_STEP_CGROUP);
    }

    if (rt_child_namespaces(config) != 0) rt_child_fail(pipe_fd, RT_STEP_NAMESPACES);

    if (config->notify) {
        /* The supervision filter first (root here, or root in the user namespace just made, so no
         * no_new_privs needed yet): its listener goes to the parent while the rest is set up, and the
         * parent's answer is read only before execve. The listener is close-on-exec. */
        struct sock_fprog supervision = {
            .len = (unsigned short)(config->notify_bpf_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)config->notify_bpf,
        };
        long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &supervision);
        if (listener < 0) rt_child_fail(pipe_fd, RT_STEP_SECCOMP);
        rt_spawn_failure ready = {RT_REPORT_LISTENER, (int)listener};
        ssize_t io;
        do {
            io = write(pipe_fd, &ready, sizeof ready);
        } while (io < 0 && errno == EINTR);
        if (io != (ssize_t)sizeof ready) rt_child_fail(pipe_fd, RT_STEP_LISTENER);
    }
    if (config->scratch_options != NULL && rt_child_stub_root(config) != 0) rt_child_fail(pipe_fd, RT_STEP_SCRATCH);

    if (chdir(config->cwd) != 0) rt_child_fail(pipe_fd, RT_STEP_CHDIR);

    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0) rt_child_fail(pipe_fd, RT_STEP_RLIMIT);
    for (size_t i = 0; i < config->limit_count; i++) {
        struct rlimit limit = {config->limits[i].soft, config->limits[i].hard};
        if (setrlimit(config->limits[i].resource, &limit) != 0) rt_child_fail(pipe_fd, RT_STEP_RLIMIT);
    }
    if (config->nice != 0) {
        /* Best effort: its own autogroup (setsid made one) and its own priority. */
        (void)rt_write_file("/proc/self/autogroup", config->nice > 0 ? "10" : "0");
        (void)setpriority(PRIO_PROCESS, 0, config->nice);
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) rt_child_fail(pipe_fd, RT_STEP_NO_NEW_PRIVS);

    if (config->ruleset_fd >= 0) {
        if (config->scratch_access != 0) {
            struct rt_landlock_path_beneath_attr rule = {config->scratch_access, -1};
            rule.parent_fd = open(".", O_PATH | O_CLOEXEC | O_DIRECTORY);
            if (rule.parent_fd < 0) rt_child_fail(pipe_fd, RT_STEP_LANDLOCK);
            if (syscall(SYS_landlock_add_rule, config->ruleset_fd, RT_LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
                rt_child_fail(pipe_fd, RT_STEP_LANDLOCK);
            }
            close(rule.parent_fd);
        }
        if (config->self_access != 0) {
            /* Its own /proc entry (runtimes read their maps and limits at start): /proc/self is resolved
             * here, so the rule names this process's directory and no other. Best effort. */
            struct rt_landlock_path_beneath_attr own = {config->self_access, -1};
            own.parent_fd = open("/proc/self", O_PATH | O_CLOEXEC | O_DIRECTORY);
            if (own.parent_fd >= 0) {
                (void)syscall(SYS_landlock_add_rule, config->ruleset_fd, RT_LANDLOCK_RULE_PATH_BENEATH, &own, 0);
                close(own.parent_fd);
            }
        }
        if (syscall(SYS_landlock_restrict_self, config->ruleset_fd, config->landlock_flags) != 0) rt_child_fail(pipe_fd, RT_STEP_LANDLOCK);
    }

    if (rt_child_identity(config) != 0) rt_child_fail(pipe_fd, RT_STEP_IDENTITY);
    /* A uid change clears the death signal: arm it again, and check the parent once more. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) rt_child_fail(pipe_fd, RT_STEP_PDEATHSIG);
    if (getppid() != parent) {
        errno = ESRCH;
        rt_child_fail(pipe_fd, RT_STEP_PARENT_GONE);
    }

    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) != 0) rt_child_fail(pipe_fd, RT_STEP_SECCOMP);
    if (go_fd >= 0) {
        /* The parent has its copy of the listener by now, nearly always: only read and write from here on
         * (they are in every stub's filter). Its answer closes the listener's window: after execve the
         * listener is gone from this process. Without a listener the byte says the parent knows this
         * child's pid: a child cloned by a spawn helper that died before telling the daemon ends here. */
        char go;
        ssize_t io;
        do {
            io = read(go_fd, &go, 1);
        } while (io < 0 && errno == EINTR);
        if (io != 1) rt_child_fail(pipe_fd, RT_STEP_LISTENER);
    }

    execve(config->path, config->argv, config->envp);
    rt_child_fail(pipe_fd, RT_STEP_EXECVE);
}

/* clone3(CLONE_PIDFD), falling back to fork + pidfd_open where clone3 is missing or refused. */
static pid_t rt_clone(int *pidfd, rt_spawn_failure *failure) {
    int fd = -1;
    struct clone_args args = {0};
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&fd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
        *pidfd = fd;
        return (pid_t)pid;
    }
    if (errno != ENOSYS && errno != EPERM) {
        failure->step = RT_STEP_CLONE;
        failure->error = errno;
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        failure->step = RT_STEP_CLONE;
        failure->error = errno;
        return -1;
    }
    if (pid == 0) {
        *pidfd = -1;
        return 0;
    }
    fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0) {
        failure->step = RT_STEP_PIDFD_OPEN;
        failure->error = errno;
        kill((pid_t)pid, SIGKILL);
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    *pidfd = fd;
    return (pid_t)pid;
}

/* One byte on the go pipe: the child may go on to execve. */
static void rt_send_go(int go_fd) {
    char go = 1;
    ssize_t sent;
    do {
        sent = write(go_fd, &go, 1);
    } while (sent < 0 && errno == EINTR);
}

int rt_spawn(const rt_spawn_config *config, int *helper, pid_t *pid_out, int *pidfd_out, int *listener_out,
             rt_spawn_failure *failure) {
    failure->step = RT_STEP_NONE;
    failure->error = 0;
    *listener_out = -1;
    if (config == NULL || config->path == NULL || config->argv == NULL || config->envp == NULL ||
        config->cwd == NULL || config->bpf == NULL || config->bpf_len == 0 ||
        config->bpf_len % sizeof(struct sock_filter) != 0 ||
        config->bpf_len / sizeof(struct sock_filter) > RT_BPF_MAX_INSNS ||
        (config->notify && (config->notify_bpf == NULL || config->notify_bpf_len == 0 ||
                            config->notify_bpf_len % sizeof(struct sock_filter) != 0 ||
                            config->notify_bpf_len / sizeof(struct sock_filter) > RT_BPF_MAX_INSNS)) ||
        (config->limit_count > 0 && config->limits == NULL) ||
        (config->cgroup_fd_count > 0 && config->cgroup_fds == NULL)) {
        failure->step = RT_STEP_INVALID_ARGUMENT;
        failure->error = EINVAL;
        return -1;
    }
    struct sock_fprog prog = {
        .len = (unsigned short)(config->bpf_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)config->bpf,
    };

    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) {
        failure->step = RT_STEP_PIPE;
        failure->error = errno;
        return -1;
    }
    int go_pipe[2];
    if (pipe2(go_pipe, O_CLOEXEC) != 0) {
        failure->step = RT_STEP_PIPE;
        failure->error = errno;
        close(error_pipe[0]);
        close(error_pipe[1]);
        return -1;
    }

    pid_t pid = -1;
    int pidfd = -1;
    int asked = 1;
    if (helper != NULL && *helper >= 0) {
        int lost = 0;
        asked = rt_helper_spawn(*helper, config, error_pipe[1], go_pipe[0], &pid, &pidfd, failure, &lost);
        if (lost) {
            close(*helper);
            *helper = -1;
        }
        if (asked < 0 && lost) {
            /* Gone with the request, perhaps after its clone: fresh pipes, so that such an orphan reads EOF
             * on its go pipe and exits before execve (it stays an unreaped zombie: its pid never came), and
             * this spawn is done in-process. */
            close(error_pipe[0]);
            close(error_pipe[1]);
            close(go_pipe[0]);
            close(go_pipe[1]);
            failure->step = RT_STEP_NONE;
            failure->error = 0;
            if (pipe2(error_pipe, O_CLOEXEC) != 0) {
                failure->step = RT_STEP_PIPE;
                failure->error = errno;
                return -1;
            }
            if (pipe2(go_pipe, O_CLOEXEC) != 0) {
                failure->step = RT_STEP_PIPE;
                failure->error = errno;
                close(error_pipe[0]);
                close(error_pipe[1]);
                return -1;
            }
            asked = 1;
        }
    }
    if (asked == 1) {
        /* In-process: block every signal across clone so no parent handler runs in the child before it
         * has reset the dispositions; the child clears its mask, the parent restores its own. */
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid_t parent = getpid();
        pid = rt_clone(&pidfd, failure);
        if (pid == 0) {
            close(error_pipe[0]);
            close(go_pipe[1]);
            rt_child(config, &prog, error_pipe[1], go_pipe[0], parent, 0);
        }
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    }
    close(error_pipe[1]);
    close(go_pipe[0]);
    if (pid < 0) {
        close(error_pipe[0]);
        close(go_pipe[1]);
        return -1;
    }
    if (!config->notify) rt_send_go(go_pipe[1]);

    /* EOF means execve closed the pipe: the child runs the new program. Before that, a child with
     * a listener reports its fd number and waits until the parent has its copy. */
    rt_spawn_failure report;
    ssize_t got;
    int listener = -1;
    for (;;) {
        do {
            got = read(error_pipe[0], &report, sizeof report);
        } while (got < 0 && errno == EINTR);
        if (got != (ssize_t)sizeof report || report.step != RT_REPORT_LISTENER || listener >= 0) break;
        listener = (int)syscall(SYS_pidfd_getfd, pidfd, report.error, 0);
        if (listener < 0) {
            report.step = RT_STEP_LISTENER;
            report.error = errno;
            kill(pid, SIGKILL);
            got = (ssize_t)sizeof report;
            break;
        }
        rt_send_go(go_pipe[1]);
    }
    close(error_pipe[0]);
    close(go_pipe[1]);
    if (got == 0 && (!config->notify || listener >= 0)) {
        *pid_out = pid;
        *pidfd_out = pidfd;
        *listener_out = listener;
        return 0;
    }
    if (listener >= 0) close(listener);
    if (got == 0) {
        report.step = RT_STEP_LISTENER;
        report.error = EPROTO;
        got = (ssize_t)sizeof report;
    }

    if (got == (ssize_t)sizeof report) {
        *failure = report;
    } else {
        failure->step = RT_STEP_EXECVE;
        failure->error = got < 0 ? errno : EIO;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    close(pidfd);
    return -1;
}

int rt_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int rt_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}

int rt_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0U);
}

int rt_waitid_pidfd(int pidfd, int *kind, int *status) {
    siginfo_t info = {0};
    int result;
    do {
        result = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return -1;
    if (info.si_pid == 0) return 0;
    *kind = info.si_code == CLD_EXITED ? RT_EXIT_EXITED : RT_EXIT_SIGNALED;
    *status = info.si_status;
    return 1;
}
