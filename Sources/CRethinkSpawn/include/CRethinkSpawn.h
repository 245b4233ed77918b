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
};

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
 * three fds on 0, 1, 2; marks every fd >= 3 close-on-exec; chdir(cwd);
 * RLIMIT_CORE = 0 and the given limits; PR_SET_NO_NEW_PRIVS; installs the
 * seccomp filter; execve. The filter must allow write, exit_group and execve.
 *
 * Returns 0 with *pid and *pidfd (close-on-exec) set once execve succeeded;
 * -1 with *failure set otherwise (the failed child has been reaped).
 */
int rt_spawn(const rt_spawn_config *config, pid_t *pid, int *pidfd, rt_spawn_failure *failure);

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

#ifdef __cplusplus
}
#endif

#endif
