/* The fork/exec shim: see include/CRethinkSpawn.h for the contract. */
#define _GNU_SOURCE
#include "CRethinkSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define RT_BPF_MAX_INSNS 4096

/* struct sigaction as the rt_sigaction system call takes it on x86_64. */
struct rt_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/* Report the failed step through the error pipe and exit; never returns. */
static void rt_child_fail(int pipe_fd, int step) {
    rt_spawn_failure report = {step, errno};
    ssize_t written;
    do {
        written = write(pipe_fd, &report, sizeof report);
    } while (written < 0 && errno == EINTR);
    _exit(127);
}

/* The child side: runs between clone and execve, async-signal-safe calls only. */
static void rt_child(const rt_spawn_config *config, const struct sock_fprog *prog, int pipe_fd,
                     pid_t parent) {
    /* The raw system call: glibc's sigaction refuses signals 32 and 33, which a parent may
     * have ignored, and an ignored signal survives execve. */
    struct rt_kernel_sigaction default_action = {0};
    default_action.handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (syscall(SYS_rt_sigaction, sig, &default_action, NULL, sizeof default_action.mask) != 0) {
            rt_child_fail(pipe_fd, RT_STEP_SIGNALS);
        }
    }
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

    /* Close-on-exec rather than close, so the error pipe stays open until execve. */
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        rt_child_fail(pipe_fd, RT_STEP_CLOSE_RANGE);
    }

    if (chdir(config->cwd) != 0) rt_child_fail(pipe_fd, RT_STEP_CHDIR);

    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0) rt_child_fail(pipe_fd, RT_STEP_RLIMIT);
    for (size_t i = 0; i < config->limit_count; i++) {
        struct rlimit limit = {config->limits[i].soft, config->limits[i].hard};
        if (setrlimit(config->limits[i].resource, &limit) != 0) rt_child_fail(pipe_fd, RT_STEP_RLIMIT);
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) rt_child_fail(pipe_fd, RT_STEP_NO_NEW_PRIVS);

    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) != 0) {
        rt_child_fail(pipe_fd, RT_STEP_SECCOMP);
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

int rt_spawn(const rt_spawn_config *config, pid_t *pid_out, int *pidfd_out, rt_spawn_failure *failure) {
    failure->step = RT_STEP_NONE;
    failure->error = 0;
    if (config == NULL || config->path == NULL || config->argv == NULL || config->envp == NULL ||
        config->cwd == NULL || config->bpf == NULL || config->bpf_len == 0 ||
        config->bpf_len % sizeof(struct sock_filter) != 0 ||
        config->bpf_len / sizeof(struct sock_filter) > RT_BPF_MAX_INSNS ||
        (config->limit_count > 0 && config->limits == NULL)) {
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

    /* Block every signal across clone so no parent handler runs in the child before it
     * has reset the dispositions; the child clears its mask, the parent restores its own. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);

    pid_t parent = getpid();
    int pidfd = -1;
    pid_t pid = rt_clone(&pidfd, failure);
    if (pid == 0) {
        close(error_pipe[0]);
        rt_child(config, &prog, error_pipe[1], parent);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(error_pipe[1]);
    if (pid < 0) {
        close(error_pipe[0]);
        return -1;
    }

    /* EOF means execve closed the pipe: the child runs the new program. */
    rt_spawn_failure report;
    ssize_t got;
    do {
        got = read(error_pipe[0], &report, sizeof report);
    } while (got < 0 && errno == EINTR);
    close(error_pipe[0]);
    if (got == 0) {
        *pid_out = pid;
        *pidfd_out = pidfd;
        return 0;
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
