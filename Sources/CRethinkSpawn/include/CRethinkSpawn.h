/*
 * CRethinkSpawn: the fork/exec shim of RethinkSandbox. Not API: only
 * RethinkSandbox calls it. Every symbol is prefixed rt_.
 *
 * Swift cannot run code between fork and exec safely (the child of a
 * multithreaded process may only make async-signal-safe calls), and neither
 * Foundation's Process nor swift-subprocess has a pre-exec hook on Linux. So
 * the whole child side lives here, as a fixed sequence of raw calls, and the
 * policy (which limits, which seccomp program) is decided by the Swift caller.
 */
#ifndef CRETHINKSPAWN_H
#define CRETHINKSPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h> /* for the network supervisor: Swift's Glibc module does not export epoll */

#ifdef __cplusplus
extern "C" {
#endif

/* The step of rt_spawn that failed, reported through rt_spawn_failure.step.
 * Steps before RT_STEP_SIGNALS fail in the parent; the others in the child,
 * which reports them through a close-on-exec pipe and exits with 127. */
enum rt_spawn_step {
    RT_STEP_NONE = 0,
    RT_STEP_INVALID_ARGUMENT = 1, /* bad configuration, nothing was started */
    RT_STEP_PIPE = 2,             /* pipe2 for the error pipe */
    RT_STEP_CLONE = 3,            /* clone3 and the fork fallback */
    RT_STEP_PIDFD_OPEN = 4,       /* pidfd_open after the fork fallback */
    RT_STEP_SIGNALS = 5,          /* reset signal dispositions and mask */
    RT_STEP_SETSID = 6,
    RT_STEP_PDEATHSIG = 7,        /* prctl(PR_SET_PDEATHSIG) */
    RT_STEP_PARENT_GONE = 8,      /* the parent died before PDEATHSIG was armed */
    RT_STEP_DUP2 = 9,             /* stdin/stdout/stderr onto 0, 1, 2 */
    RT_STEP_CLOSE_RANGE = 10,     /* mark fds >= 3 close-on-exec */
    RT_STEP_CHDIR = 11,
    RT_STEP_RLIMIT = 12,
    RT_STEP_NO_NEW_PRIVS = 13,
    RT_STEP_SECCOMP = 14,         /* installing the seccomp filter */
    RT_STEP_EXECVE = 15,
    RT_STEP_CGROUP = 16,          /* joining the stub's cgroups */
    RT_STEP_NAMESPACES = 17,      /* unshare of the user and mount namespaces, uid/gid maps */
    RT_STEP_SCRATCH = 18,         /* the size-bounded tmpfs over the working directory */
    RT_STEP_LANDLOCK = 19,        /* the scratch rule and landlock_restrict_self */
    RT_STEP_IDENTITY = 20,        /* securebits, bounding set, groups, gid, uid, capabilities */
    RT_STEP_LISTENER = 21,        /* handing the seccomp listener to the parent */
};

/* What the child reports through the error pipe once its seccomp filter holds a listener: not a
 * failure; `error` carries the listener's fd number in the child, which the parent takes with
 * pidfd_getfd before letting the child go on to execve. */
#define RT_REPORT_LISTENER 100

/* Where a stub with its own mount namespace finds its package (RT_STUB_ROOT "/package", read-only) and
 * its scratch (RT_STUB_ROOT "/scratch", its working directory). */
#define RT_STUB_ROOT "/tmp"

/* uid_t/gid_t value meaning "keep the daemon's". */
#define RT_ID_KEEP 0xffffffffU

/* Namespaces for rt_spawn_config.namespaces. */
#define RT_NS_USER 0x1  /* a new user namespace; uid_map/gid_map map inner_uid/gid onto the daemon's ids */
#define RT_NS_MOUNT 0x2 /* a new mount namespace (implied by RT_NS_USER) */

/* One resource limit for the child (resource is an RLIMIT_* value). */
typedef struct rt_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
} rt_rlimit;

/* What to start and how to confine it. All pointers are borrowed for the call. */
typedef struct rt_spawn_config {
    const char *path;       /* absolute path of the executable */
    char *const *argv;      /* NULL-terminated, argv[0] included */
    char *const *envp;      /* NULL-terminated, the complete environment */
    const char *cwd;        /* working directory of the child */
    int stdin_fd;           /* child-side fds, become 0, 1 and 2 */
    int stdout_fd;
    int stderr_fd;
    const rt_rlimit *limits; /* applied in order after RLIMIT_CORE = 0 */
    size_t limit_count;
    const void *bpf;        /* a classic BPF program (struct sock_filter[]) */
    size_t bpf_len;         /* its length in bytes: a non-zero multiple of 8 */
    int notify;             /* 1: notify_bpf is installed (with a listener, which goes to the parent) */
    const void *notify_bpf; /* with notify: the supervision filter, installed before the rest of the set-up */
    size_t notify_bpf_len;  /* its length in bytes */

    /* Confinement beyond seccomp; each part is skipped when unset. */
    const int *cgroup_fds;  /* open cgroup.procs files the child writes "0" to (joins them) */
    size_t cgroup_fd_count;
    int namespaces;         /* RT_NS_* */
    uint32_t inner_uid;     /* with RT_NS_USER: the ids the stub has inside its user namespace */
    uint32_t inner_gid;
    uint32_t outer_uid;     /* with RT_NS_USER: the daemon's ids they map onto */
    uint32_t outer_gid;
    const char *scratch_options; /* tmpfs options of the scratch under RT_STUB_ROOT (needs a mount namespace), or NULL */
    const char *package_dir; /* with scratch_options: bound read-only at RT_STUB_ROOT/package, or NULL */
    const char *package_name; /* non-NULL: package_dir is one file, bound at RT_STUB_ROOT/package/<name> */
    const char *const *kept_paths; /* with scratch_options: paths below RT_STUB_ROOT bound read-only in place (16 at most) */
    size_t kept_path_count;
    int ruleset_fd;         /* a Landlock ruleset to restrict the child with, or -1 */
    uint64_t scratch_access; /* with ruleset_fd: Landlock rights granted beneath cwd (after the tmpfs) */
    uint64_t self_access;   /* with ruleset_fd: Landlock rights granted beneath its own /proc entry (0: none) */
    uint32_t landlock_flags; /* landlock_restrict_self's flags (ABI 7: log denials after the exec too) */
    uint32_t uid;           /* RT_ID_KEEP, or the uid/gid the child switches to (needs privilege) */
    uint32_t gid;
    int drop_capabilities;  /* 1: lock securebits, empty the bounding and ambient sets, clear all caps */
    int nice;               /* added to the child's nice value (0: unchanged) */
} rt_spawn_config;

/* Why rt_spawn failed: the step and its errno. */
typedef struct rt_spawn_failure {
    int step;  /* an enum rt_spawn_step */
    int error; /* errno of that step */
} rt_spawn_failure;

/*
 * Start a confined child. Safe to call from a multithreaded process; call it
 * from one long-lived thread, because PR_SET_PDEATHSIG fires when the thread
 * that forked exits, not the process.
 *
 * The child, using raw async-signal-safe calls only: resets every signal
 * disposition to default and clears its signal mask; setsid(); arms
 * PR_SET_PDEATHSIG(SIGKILL) and checks the parent is still alive; puts the
 * three fds on 0, 1, 2; marks every fd >= 3 close-on-exec; joins its cgroups;
 * unshares its namespaces and writes its id maps; builds its view under
 * RT_STUB_ROOT (package, scratch); chdir(cwd); RLIMIT_CORE = 0 and the given limits; nice;
 * PR_SET_NO_NEW_PRIVS; Landlock; drops its identity and capabilities (and
 * re-arms the death signal a uid change clears); installs the seccomp filter
 * (handing its listener to the parent); execve. The filter must allow read,
 * write, exit_group and execve.
 *
 * With helper pointing at a spawn helper's socket (rt_spawn_helper_start), the helper clones the
 * child (still this process's child: CLONE_PARENT); with NULL or -1, or a request too large for the
 * helper, this thread does. A helper found gone is closed and *helper set to -1.
 *
 * With notify, *listener is the seccomp listener (close-on-exec) in the parent, else -1.
 * Returns 0 with *pid and *pidfd (close-on-exec) set once execve succeeded;
 * -1 with *failure set otherwise (the failed child has been reaped).
 */
int rt_spawn(const rt_spawn_config *config, int *helper, pid_t *pid, int *pidfd, int *listener,
             rt_spawn_failure *failure);

/*
 * Forks a spawn helper (SpawnHelper.c): a single-threaded copy of this process, made while it is
 * small, that clones children for rt_spawn so that a spawn's cost does not grow with this process's
 * memory, descriptors and threads. Call it from the thread that will call rt_spawn with it: the
 * children's death signal is tied to that thread, as with an in-process spawn. The helper is
 * non-dumpable, holds only stdio and its socket, and exits when *socket is closed or this process
 * dies. With `executable` (the path of `rethink-spawn-helper`), the forked child execs it at once, so
 * that the helper's address space is that small static binary's; when that fails (*executed 0), the
 * helper is the plain fork. Returns 0 with *socket (close-on-exec), *pid, *pidfd and *executed set, once
 * the helper said it is ready, or -1 with errno.
 */
int rt_spawn_helper_start(const char *executable, int *socket, pid_t *pid, int *pidfd, int *executed);

/*
 * The spawn helper's life (the `rethink-spawn-helper` executable's main, or a forked helper's): serves
 * rt_spawn's requests on `socket`, one at a time, until the daemon closes its end or dies; `daemon` is
 * the daemon's pid, which must be this process's parent. Never returns.
 */
__attribute__((noreturn)) void rt_spawn_helper_main(int socket, pid_t daemon);

/* Closes the helper's socket (it exits) and reaps it; either may be -1. */
void rt_spawn_helper_stop(int socket, int pidfd);

/* A helper whose socket failed (rt_spawn found it gone): killed, if it still runs, and reaped now, so that it
 * is not left a zombie until the daemon stops; -1 is ignored. */
void rt_spawn_helper_discard(int pidfd);

/* pipe2(fds, O_CLOEXEC), which Swift's Glibc does not expose. Returns 0 or -1 with errno. */
int rt_pipe_cloexec(int fds[2]);

/* memfd_create(2); flags as RT_MFD_*. */
#define RT_MFD_CLOEXEC 0x0001U
int rt_memfd_create(const char *name, unsigned int flags);

/* pidfd_send_signal(2) without siginfo. Returns 0 or -1 with errno. */
int rt_pidfd_send_signal(int pidfd, int signal);

/* How a child ended, from rt_waitid_pidfd. */
enum rt_exit_kind {
    RT_EXIT_EXITED = 1,   /* status is the exit code */
    RT_EXIT_SIGNALED = 2, /* status is the signal number */
};

/*
 * waitid(P_PIDFD, pidfd, WEXITED | WNOHANG): reaps the child if it has ended.
 * Returns 1 with *kind and *status set when it was reaped, 0 while it runs,
 * -1 with errno on error. EINTR is retried.
 */
int rt_waitid_pidfd(int pidfd, int *kind, int *status);

/* ---- Landlock (Landlock.c) ---- */

/* The Landlock ABI version of the running kernel, or -1 with errno (ENOSYS, EOPNOTSUPP: none). */
int rt_landlock_abi(void);

/* landlock_create_ruleset with the given handled rights; returns the ruleset fd (close-on-exec) or -1. */
int rt_landlock_create_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped);

/* Adds "allowed beneath path" to the ruleset (path opened O_PATH; on anything but a directory only the
 * rights in file_rights). Returns 0 or -1 with errno (ENOENT: no such path). */
int rt_landlock_add_path(int ruleset_fd, const char *path, uint64_t allowed, uint64_t file_rights);

/* open(path, O_PATH | O_CLOEXEC): a descriptor that names the path for rules, without reading it. */
int rt_open_path(const char *path);

/* Adds "allowed beneath" the file or directory an O_PATH descriptor refers to. Returns 0 or -1 with errno. */
int rt_landlock_add_fd(int ruleset_fd, int fd, uint64_t allowed);

/* Adds "allowed on TCP port". Returns 0 or -1 with errno. */
int rt_landlock_add_port(int ruleset_fd, uint64_t port, uint64_t allowed);

/* ---- kernel audit (Audit.c): Landlock's denials, read by the daemon ---- */

/* A non-blocking netlink socket joined to the audit log's read-only multicast group (needs
 * CAP_AUDIT_READ). Returns the fd or -1 with errno. */
int rt_audit_open_readlog(void);

/* Whether the kernel's audit is on (0 off, 1 on, 2 locked), or -1 with errno. */
int rt_audit_enabled(void);

/* Turns the kernel's audit on, with a backlog of 8192 records (needs CAP_AUDIT_CONTROL). Returns 0 or -1
 * with errno. */
int rt_audit_enable(void);

/* Receives one record: its type and text (not NUL-terminated). Returns the text's length, or -1 with
 * errno (EAGAIN: none waiting). */
long rt_audit_receive(int fd, uint16_t *type, char *text, size_t capacity);

/* ---- seccomp user notification (Notify.c) ---- */

/* One intercepted system call, from SECCOMP_IOCTL_NOTIF_RECV. */
typedef struct rt_notification {
    uint64_t id;
    uint32_t pid; /* the calling thread, in the daemon's pid namespace */
    int32_t nr;   /* the system call number */
    uint64_t args[6];
} rt_notification;

/* Receives one notification. Returns 0, or -1 with errno (ENOENT: the caller went away). */
int rt_notify_receive(int listener, rt_notification *notification);

/* Answers a notification: the call returns `value`, or fails with `error` (a positive errno) when non-zero. */
int rt_notify_respond(int listener, uint64_t id, int64_t value, int error);

/* 0 while the notification is still pending (its thread still waits), else -1 with errno. */
int rt_notify_id_valid(int listener, uint64_t id);

/* pidfd_getfd(2): a duplicate (close-on-exec) of the target's descriptor. */
int rt_pidfd_getfd(int pidfd, int target_fd);

/* process_vm_readv / process_vm_writev of one range. Returns bytes copied or -1 with errno. */
long rt_read_memory(pid_t pid, uint64_t address, void *buffer, size_t length);
long rt_write_memory(pid_t pid, uint64_t address, const void *buffer, size_t length);

/* prctl(PR_SET_DUMPABLE, 0): no process of the same uid may read or write this one's memory. */
int rt_set_non_dumpable(void);

/* Names the calling thread (PR_SET_NAME; at most 15 bytes are kept), as it shows in /proc/<pid>/task/<tid>/comm. */
int rt_set_thread_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif
