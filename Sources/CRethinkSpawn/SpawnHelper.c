/*
 * The spawn helper: a small process that clones stubs for the daemon.
 *
 * A clone copies the caller's page tables and descriptor table, and in a multithreaded process sends
 * TLB shoot-downs to every core it runs on; the child's execve then tears the copy down again. With
 * a thousand live stubs the daemon is 120 MiB with 6,000 descriptors, and that copy was most of a
 * spawn's cost (docs/BENCHMARK.md). The helper is forked from a spawner thread when the sandbox
 * starts, while the daemon is small, and never grows: one thread, a few descriptors, two buffers.
 *
 * Where the small static `rethink-spawn-helper` executable is installed beside the daemon, the forked
 * child execs it at once: its address space is then that binary's (a dozen mappings against the daemon's
 * 140, libraries and thread stacks included), so that every clone and every stub's execve, which tears the
 * clone's copy down, is cheaper again. Without it, the helper stays the daemon's own image and never execs.
 * Either way it runs only raw, async-signal-safe calls, like a child between fork and exec (forked from a
 * multithreaded process, malloc's locks may be held forever). It clones with CLONE_PARENT, so every stub is still the daemon's child: the daemon reaps it
 * through its pidfd, and its death signal still fires when the daemon's spawner thread ends. The child
 * runs the same rt_child as an in-process spawn.
 *
 * Messages are SOCK_SEQPACKET, one request per message: a header, the limits, the two filters and the
 * strings, with the child's descriptors attached (SCM_RIGHTS). The answer carries the pidfd.
 */
#define _GNU_SOURCE
#include "SpawnInternal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* The largest request; larger ones (a huge environment) are spawned in-process. */
#define RT_HELPER_MAX (192 * 1024)
/* stdin, stdout, stderr, error pipe, go pipe, ruleset and at most five cgroup files. */
#define RT_HELPER_MAX_FDS 11
#define RT_HELPER_MAX_CGROUPS 5

/* The helper's socket, in an exec'd helper. */
#define RT_HELPER_FD 3
/* The byte a helper sends once it is ready, and how long its start may take. */
#define RT_HELPER_READY 'R'
#define RT_HELPER_READY_MS 5000

#define RT_HAS_SCRATCH 0x1
#define RT_HAS_PACKAGE_DIR 0x2
#define RT_HAS_PACKAGE_NAME 0x4

struct rt_helper_header {
    uint32_t length; /* of the whole message */
    int32_t parent;  /* the daemon's pid, which the child's getppid() must return */
    uint32_t fd_count;
    uint32_t has_ruleset;
    uint32_t argc, envc, kept_count, limit_count, cgroup_count;
    uint32_t bpf_len, notify_bpf_len;
    int32_t notify, namespaces, drop_capabilities, nice;
    uint32_t inner_uid, inner_gid, outer_uid, outer_gid, uid, gid, landlock_flags;
    uint32_t present; /* RT_HAS_* */
    uint64_t scratch_access, self_access;
};

struct rt_helper_answer {
    int32_t step; /* RT_STEP_NONE: the child runs, its pidfd is attached */
    int32_t error;
    int32_t pid;
};

/* ---- the daemon's side ---- */

static size_t rt_strings_size(char *const *strings, size_t count, uint32_t *counted) {
    size_t size = 0;
    size_t i = 0;
    for (; strings != NULL && (count == (size_t)-1 ? strings[i] != NULL : i < count); i++) {
        size += strlen(strings[i]) + 1;
    }
    *counted = (uint32_t)i;
    return size;
}

static char *rt_put(char *cursor, const void *bytes, size_t length) {
    memcpy(cursor, bytes, length);
    return cursor + length;
}

static char *rt_put_string(char *cursor, const char *string) {
    return rt_put(cursor, string, strlen(string) + 1);
}

int rt_helper_spawn(int helper, const rt_spawn_config *config, int error_fd, int go_fd, pid_t *pid, int *pidfd,
                    rt_spawn_failure *failure, int *lost) {
    *lost = 0;
    if (config->cgroup_fd_count > RT_HELPER_MAX_CGROUPS) return 1;
    struct rt_helper_header header = {0};
    size_t size = sizeof header + config->limit_count * sizeof(rt_rlimit) + config->bpf_len;
    if (config->notify) size += config->notify_bpf_len;
    size += strlen(config->path) + 1 + strlen(config->cwd) + 1;
    size += rt_strings_size(config->argv, (size_t)-1, &header.argc);
    size += rt_strings_size(config->envp, (size_t)-1, &header.envc);
    size += rt_strings_size((char *const *)config->kept_paths, config->kept_path_count, &header.kept_count);
    if (config->scratch_options != NULL) size += strlen(config->scratch_options) + 1;
    if (config->package_dir != NULL) size += strlen(config->package_dir) + 1;
    if (config->package_name != NULL) size += strlen(config->package_name) + 1;
    if (size > RT_HELPER_MAX) return 1;

    header.length = (uint32_t)size;
    header.parent = getpid();
    header.has_ruleset = config->ruleset_fd >= 0;
    header.fd_count = 5 + header.has_ruleset + (uint32_t)config->cgroup_fd_count;
    header.limit_count = (uint32_t)config->limit_count;
    header.cgroup_count = (uint32_t)config->cgroup_fd_count;
    header.bpf_len = (uint32_t)config->bpf_len;
    header.notify_bpf_len = config->notify ? (uint32_t)config->notify_bpf_len : 0;
    header.notify = config->notify;
    header.namespaces = config->namespaces;
    header.drop_capabilities = config->drop_capabilities;
    header.nice = config->nice;
    header.inner_uid = config->inner_uid;
    header.inner_gid = config->inner_gid;
    header.outer_uid = config->outer_uid;
    header.outer_gid = config->outer_gid;
    header.uid = config->uid;
    header.gid = config->gid;
    header.landlock_flags = config->landlock_flags;
    header.scratch_access = config->scratch_access;
    header.self_access = config->self_access;
    header.present = (config->scratch_options != NULL ? RT_HAS_SCRATCH : 0) |
                     (config->package_dir != NULL ? RT_HAS_PACKAGE_DIR : 0) |
                     (config->package_name != NULL ? RT_HAS_PACKAGE_NAME : 0);

    char *message = malloc(size);
    if (message == NULL) return 1;
    char *cursor = rt_put(message, &header, sizeof header);
    if (config->limit_count > 0) cursor = rt_put(cursor, config->limits, config->limit_count * sizeof(rt_rlimit));
    cursor = rt_put(cursor, config->bpf, config->bpf_len);
    if (config->notify) cursor = rt_put(cursor, config->notify_bpf, config->notify_bpf_len);
    cursor = rt_put_string(cursor, config->path);
    cursor = rt_put_string(cursor, config->cwd);
    for (uint32_t i = 0; i < header.argc; i++) cursor = rt_put_string(cursor, config->argv[i]);
    for (uint32_t i = 0; i < header.envc; i++) cursor = rt_put_string(cursor, config->envp[i]);
    if (config->scratch_options != NULL) cursor = rt_put_string(cursor, config->scratch_options);
    if (config->package_dir != NULL) cursor = rt_put_string(cursor, config->package_dir);
    if (config->package_name != NULL) cursor = rt_put_string(cursor, config->package_name);
    for (uint32_t i = 0; i < header.kept_count; i++) cursor = rt_put_string(cursor, config->kept_paths[i]);

    int fds[RT_HELPER_MAX_FDS];
    size_t fd_count = 0;
    fds[fd_count++] = config->stdin_fd;
    fds[fd_count++] = config->stdout_fd;
    fds[fd_count++] = config->stderr_fd;
    fds[fd_count++] = error_fd;
    fds[fd_count++] = go_fd;
    if (header.has_ruleset) fds[fd_count++] = config->ruleset_fd;
    for (size_t i = 0; i < config->cgroup_fd_count; i++) fds[fd_count++] = config->cgroup_fds[i];

    union {
        char buffer[CMSG_SPACE(sizeof(int) * RT_HELPER_MAX_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {message, size};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buffer;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
    ssize_t sent;
    do {
        sent = sendmsg(helper, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    free(message);
    if (sent != (ssize_t)size) {
        /* Nothing reached the helper: EMSGSIZE (a small socket buffer) keeps it, anything else means it is gone. */
        *lost = !(sent < 0 && (errno == EMSGSIZE || errno == ENOBUFS || errno == ENOMEM));
        return 1;
    }

    struct rt_helper_answer answer;
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } reply_control;
    struct iovec reply_iov = {&answer, sizeof answer};
    struct msghdr reply = {0};
    reply.msg_iov = &reply_iov;
    reply.msg_iovlen = 1;
    reply.msg_control = reply_control.buffer;
    reply.msg_controllen = sizeof reply_control.buffer;
    ssize_t got;
    do {
        got = recvmsg(helper, &reply, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    int received = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&reply); c != NULL; c = CMSG_NXTHDR(&reply, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(&received, CMSG_DATA(c), sizeof(int));
        }
    }
    if (got != (ssize_t)sizeof answer) {
        /* Gone with the request. If it had cloned the child, the child waits for the go byte it will not
         * get (the daemon closes the go pipe) and exits without running the stub. */
        if (received >= 0) close(received);
        *lost = 1;
        failure->step = RT_STEP_CLONE;
        failure->error = got < 0 ? errno : EPIPE;
        return -1;
    }
    if (answer.step != RT_STEP_NONE || received < 0) {
        if (received >= 0) close(received);
        failure->step = answer.step != RT_STEP_NONE ? answer.step : RT_STEP_CLONE;
        failure->error = answer.step != RT_STEP_NONE ? answer.error : EPROTO;
        return -1;
    }
    *pid = answer.pid;
    *pidfd = received;
    return 0;
}

/* ---- the helper's side: raw calls only ---- */

/* clone3 with flags | CLONE_PIDFD; where clone3 is refused (systemd's RestrictNamespaces= answers it with
 * ENOSYS, since it cannot read its flags), the legacy clone, which takes CLONE_PIDFD too. Both without
 * CLONE_VM: like fork, the child goes on from here on a copy of the stack. */
static long rt_clone_pidfd(uint64_t flags, int exit_signal, int *pidfd) {
    struct clone_args args = {0};
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = (uint64_t)exit_signal;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || (errno != ENOSYS && errno != EPERM)) return pid;
    return syscall(SYS_clone, (unsigned long)(flags | CLONE_PIDFD) | (unsigned long)exit_signal, 0UL, pidfd, 0UL, 0UL);
}

static void rt_helper_answer(int sock, int step, int error, pid_t pid, int pidfd) {
    struct rt_helper_answer answer = {step, error, pid};
    struct iovec iov = {&answer, sizeof answer};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (pidfd >= 0) {
        msg.msg_control = control.buffer;
        msg.msg_controllen = sizeof control.buffer;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        *(int *)(void *)CMSG_DATA(cmsg) = pidfd;
    }
    ssize_t sent;
    do {
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)sizeof answer) {
        /* The daemon is gone: a cloned child then never gets its go byte and exits. */
        _exit(0);
    }
}

/* The next NUL-terminated string at *cursor, within end; NULL if there is none. */
static const char *rt_take_string(const char **cursor, const char *end) {
    const char *start = *cursor;
    const char *p = start;
    while (p < end && *p != 0) p++;
    if (p >= end) return NULL;
    *cursor = p + 1;
    return start;
}

/* Reads one request into config, with pointers into message and pointers[]. 0, or -1 if it is malformed. */
static int rt_helper_parse(const char *message, size_t length, const int *fds, size_t fd_count,
                           rt_spawn_config *config, const char **pointers, size_t pointer_capacity,
                           int *error_fd, int *go_fd, pid_t *parent) {
    struct rt_helper_header header;
    if (length < sizeof header) return -1;
    memcpy(&header, message, sizeof header);
    if (header.length != length || header.cgroup_count > RT_HELPER_MAX_CGROUPS || header.has_ruleset > 1 ||
        header.fd_count != 5 + header.has_ruleset + header.cgroup_count || header.fd_count != fd_count ||
        header.bpf_len == 0 || header.bpf_len % 8 != 0 || header.notify_bpf_len % 8 != 0 ||
        (header.notify != 0) != (header.notify_bpf_len != 0) || header.limit_count > 64 ||
        (size_t)header.argc + header.envc + header.kept_count + 3 > pointer_capacity) {
        return -1;
    }
    const char *cursor = message + sizeof header;
    const char *end = message + length;
    size_t fixed = header.limit_count * sizeof(rt_rlimit) + (size_t)header.bpf_len + header.notify_bpf_len;
    if ((size_t)(end - cursor) < fixed) return -1;
    memset(config, 0, sizeof *config);
    config->limits = (const rt_rlimit *)(const void *)cursor;
    config->limit_count = header.limit_count;
    cursor += header.limit_count * sizeof(rt_rlimit);
    config->bpf = cursor;
    config->bpf_len = header.bpf_len;
    cursor += header.bpf_len;
    config->notify = header.notify;
    config->notify_bpf = header.notify ? cursor : NULL;
    config->notify_bpf_len = header.notify_bpf_len;
    cursor += header.notify_bpf_len;
    if ((config->path = rt_take_string(&cursor, end)) == NULL) return -1;
    if ((config->cwd = rt_take_string(&cursor, end)) == NULL) return -1;
    const char **argv = pointers;
    for (uint32_t i = 0; i < header.argc; i++) {
        if ((argv[i] = rt_take_string(&cursor, end)) == NULL) return -1;
    }
    argv[header.argc] = NULL;
    const char **envp = argv + header.argc + 1;
    for (uint32_t i = 0; i < header.envc; i++) {
        if ((envp[i] = rt_take_string(&cursor, end)) == NULL) return -1;
    }
    envp[header.envc] = NULL;
    config->argv = (char *const *)argv;
    config->envp = (char *const *)envp;
    if ((header.present & RT_HAS_SCRATCH) && (config->scratch_options = rt_take_string(&cursor, end)) == NULL) return -1;
    if ((header.present & RT_HAS_PACKAGE_DIR) && (config->package_dir = rt_take_string(&cursor, end)) == NULL) return -1;
    if ((header.present & RT_HAS_PACKAGE_NAME) && (config->package_name = rt_take_string(&cursor, end)) == NULL) return -1;
    const char **kept = envp + header.envc + 1;
    for (uint32_t i = 0; i < header.kept_count; i++) {
        if ((kept[i] = rt_take_string(&cursor, end)) == NULL) return -1;
    }
    config->kept_paths = kept;
    config->kept_path_count = header.kept_count;
    if (cursor != end) return -1;

    config->stdin_fd = fds[0];
    config->stdout_fd = fds[1];
    config->stderr_fd = fds[2];
    *error_fd = fds[3];
    *go_fd = fds[4];
    config->ruleset_fd = header.has_ruleset ? fds[5] : -1;
    config->cgroup_fds = fds + 5 + header.has_ruleset;
    config->cgroup_fd_count = header.cgroup_count;
    config->namespaces = header.namespaces;
    config->inner_uid = header.inner_uid;
    config->inner_gid = header.inner_gid;
    config->outer_uid = header.outer_uid;
    config->outer_gid = header.outer_gid;
    config->scratch_access = header.scratch_access;
    config->self_access = header.self_access;
    config->landlock_flags = header.landlock_flags;
    config->uid = header.uid;
    config->gid = header.gid;
    config->drop_capabilities = header.drop_capabilities;
    config->nice = header.nice;
    *parent = header.parent;
    return 0;
}

static void rt_close_fds(const int *fds, size_t count) {
    for (size_t i = 0; i < count; i++) close(fds[i]);
}

void rt_spawn_helper_main(int sock, pid_t daemon) {
    /* All signals stay blocked (rt_spawn_helper_start blocked them, and execve keeps the mask); SIGKILL
     * comes with the daemon's death. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != daemon) _exit(1);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) _exit(1);
    /* Once for all its clones: none then inherits a handler or an ignored signal of the daemon's. */
    if (rt_reset_signal_dispositions() != 0) _exit(1);
    (void)prctl(PR_SET_NAME, "rt-spawn-helper", 0, 0, 0);
    /* Only stdio and the socket: everything else the daemon had open stays out of the stubs' clones. */
    if (sock != RT_HELPER_FD) {
        if (dup2(sock, RT_HELPER_FD) < 0) _exit(1);
        sock = RT_HELPER_FD;
    }
    if (syscall(SYS_close_range, RT_HELPER_FD + 1U, ~0U, 0U) != 0) _exit(1);

    size_t pointer_capacity = RT_HELPER_MAX + 3;
    char *message = mmap(NULL, RT_HELPER_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const char **pointers = mmap(NULL, pointer_capacity * sizeof(char *), PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (message == MAP_FAILED || pointers == MAP_FAILED) _exit(1);
    /* Ready: rt_spawn_helper_start waits for this byte before it hands the socket to rt_spawn. */
    char ready = RT_HELPER_READY;
    ssize_t announced;
    do {
        announced = send(sock, &ready, 1, MSG_NOSIGNAL);
    } while (announced < 0 && errno == EINTR);
    if (announced != 1) _exit(0);

    for (;;) {
        union {
            char buffer[CMSG_SPACE(sizeof(int) * RT_HELPER_MAX_FDS)];
            struct cmsghdr align;
        } control;
        struct iovec iov = {message, RT_HELPER_MAX};
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buffer;
        msg.msg_controllen = sizeof control.buffer;
        ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) _exit(0);

        int fds[RT_HELPER_MAX_FDS];
        size_t fd_count = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count && fd_count < RT_HELPER_MAX_FDS; i++) {
                memcpy(&fds[fd_count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        }
        rt_spawn_config config;
        int error_fd = -1, go_fd = -1;
        pid_t parent = 0;
        if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
            rt_helper_parse(message, (size_t)got, fds, fd_count, &config, pointers, pointer_capacity, &error_fd,
                            &go_fd, &parent) != 0 ||
            parent != daemon) {
            rt_close_fds(fds, fd_count);
            rt_helper_answer(sock, RT_STEP_INVALID_ARGUMENT, EPROTO, 0, -1);
            continue;
        }
        struct sock_fprog prog = {
            .len = (unsigned short)(config.bpf_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)config.bpf,
        };

        int pidfd = -1;
        /* With CLONE_PARENT the child's exit signal is the helper's own (SIGCHLD), to the daemon. */
        long pid = rt_clone_pidfd(CLONE_PARENT, 0, &pidfd);
        if (pid == 0) rt_child(&config, &prog, error_fd, go_fd, daemon, 1);
        int clone_error = errno;
        rt_close_fds(fds, fd_count);
        if (pid < 0) {
            rt_helper_answer(sock, RT_STEP_CLONE, clone_error, 0, -1);
            continue;
        }
        rt_helper_answer(sock, RT_STEP_NONE, 0, (pid_t)pid, pidfd);
        close(pidfd);
    }
}

/* In the forked child, before the helper's own code: the socket on fd 3 without close-on-exec, nothing
 * else above stderr, then execve of the helper executable with the daemon's pid as its argument.
 * Returns only if execve failed. */
static void rt_exec_helper(const char *executable, int sock, pid_t daemon) {
    if (sock == RT_HELPER_FD) {
        if (fcntl(sock, F_SETFD, 0) != 0) return;
    } else if (dup2(sock, RT_HELPER_FD) < 0) {
        return;
    }
    if (syscall(SYS_close_range, RT_HELPER_FD + 1U, ~0U, 0U) != 0) return;
    char pid_text[16];
    char *end = pid_text + sizeof pid_text - 1;
    *end = '\0';
    unsigned long value = (unsigned long)daemon;
    do {
        *--end = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0 && end > pid_text);
    char *const argv[] = {(char *)"rt-spawn-helper", end, NULL};
    char *const envp[] = {NULL};
    execve(executable, argv, envp);
}

/* Forks a helper (which execs `executable` when it is not NULL) and waits for its ready byte. Returns 0
 * with the daemon's end of the socket, its pid and pidfd; -1 with errno, the child reaped. */
static int rt_start_helper(const char *executable, int *socket_out, pid_t *pid_out, int *pidfd_out) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return -1;
    int buffer = RT_HELPER_MAX + 4096;
    (void)setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    (void)setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);

    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t daemon = getpid();
    int pidfd = -1;
    long pid = rt_clone_pidfd(0, SIGCHLD, &pidfd);
    if (pid == 0) {
        close(pair[0]);
        if (executable != NULL) {
            /* Armed before execve, which keeps it for a binary that is not set-uid; the helper's main checks
             * its parent. */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0) rt_exec_helper(executable, pair[1], daemon);
            _exit(127);
        }
        rt_spawn_helper_main(pair[1], daemon);
    }
    int saved_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(pair[1]);
    if (pid < 0) {
        close(pair[0]);
        errno = saved_errno;
        return -1;
    }
    /* The ready byte, or EOF when the helper exited (an execve that failed); a helper that neither answers
     * nor exits within RT_HELPER_READY_MS is killed. */
    struct pollfd waiting = {pair[0], POLLIN, 0};
    int polled;
    do {
        polled = poll(&waiting, 1, RT_HELPER_READY_MS);
    } while (polled < 0 && errno == EINTR);
    char ready = 0;
    ssize_t got = -1;
    if (polled == 1) {
        do {
            got = recv(pair[0], &ready, 1, MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
    }
    if (got != 1 || ready != RT_HELPER_READY) {
        kill((pid_t)pid, SIGKILL);
        close(pair[0]);
        siginfo_t info;
        while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR) {}
        close(pidfd);
        errno = polled == 0 ? ETIMEDOUT : ECHILD;
        return -1;
    }
    *socket_out = pair[0];
    *pid_out = (pid_t)pid;
    *pidfd_out = pidfd;
    return 0;
}

int rt_spawn_helper_start(const char *executable, int *socket_out, pid_t *pid_out, int *pidfd_out,
                          int *executed_out) {
    *executed_out = 0;
    if (executable != NULL && rt_start_helper(executable, socket_out, pid_out, pidfd_out) == 0) {
        *executed_out = 1;
        return 0;
    }
    return rt_start_helper(NULL, socket_out, pid_out, pidfd_out);
}

void rt_spawn_helper_discard(int pidfd) {
    if (pidfd < 0) return;
    (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0U);
    rt_spawn_helper_stop(-1, pidfd);
}

void rt_spawn_helper_stop(int sock, int pidfd) {
    if (sock >= 0) close(sock);
    if (pidfd < 0) return;
    siginfo_t info;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR) {}
    close(pidfd);
}
