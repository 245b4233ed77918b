/*
 * rethink-hostile-native-stub: a hostile protostub in C for the daemon's attack tests. It speaks the
 * MiniBUS like any native stub (answers the deploy message, reports created, in-progress and live),
 * then, for each `execute` request whose body holds {"attack": NAME, "args": {...}} (or the arguments
 * beside `attack` in the body itself), makes that attack with raw system calls and answers 200 with
 *   {"attack": NAME, "outcome": "refused" | "allowed", "errno": "EACCES" | null, "detail": "..."}
 * `allowed` means the attack worked: a breach. `errno` names the error of the refused step. An unknown
 * attack or a missing argument gets 400; any other request is echoed like the echo stub does (200,
 * body.value back), the runtime's deploy request among them.
 *
 * Attacks (arguments in parentheses; `pid` defaults to the parent, the daemon that spawned the stub):
 *   proc-mem (pid)          open("/proc/<pid>/mem", O_RDWR), closed at once, nothing written
 *   proc-syscall (pid)      read /proc/<pid>/syscall
 *   ptrace (pid)            ptrace(PTRACE_ATTACH); if it ever succeeds, waits for the stop and detaches
 *   process-vm (pid)        process_vm_readv of 8 bytes at a guessed address; EFAULT means the kernel
 *                           granted access (the address only was wrong): allowed
 *   signal (pid)            kill(pid, 0);  kill-group: kill(-1, 0). Signal 0 only checks, sends nothing
 *   open-read (path)        open O_RDONLY and read
 *   open-write (path)       open(O_WRONLY | O_CREAT, 0644), nothing written; a file it created is removed
 *   setuid-create (path)    open(O_WRONLY | O_CREAT, 04755), default "setuid-probe" in the working
 *                           directory, then fstat: allowed if S_ISUID is set. Removed afterwards
 *   raw-icmp, packet-socket, sock-packet, unix-socket, netlink-socket
 *                           socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), socket(AF_PACKET, SOCK_RAW, 0),
 *                           socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)), socket(AF_UNIX, SOCK_STREAM, 0),
 *                           socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); closed at once
 *   tcp-connect (port, host 127.0.0.1)   a blocking TCP connect
 *   udp-sendto, udp-sendmsg (port, host) "probe" by sendto, or by sendmsg with msg_name
 *   unix-connect (path)     connect() one end of a socketpair(AF_UNIX, SOCK_DGRAM) to a pathname socket,
 *                           then send "probe"
 *   mount                   mount("none", "/nonexistent-rethink-attack", "tmpfs"): unconfined ENOENT
 *   unshare                 unshare(CLONE_NEWUSER | CLONE_NEWNS): only this process would move
 *   setns                   setns(-1, CLONE_NEWNS): unconfined EBADF
 *   dev (path /dev/kvm)     open O_RDWR
 *   memfd-exec              memfd_create, /bin/true copied in, fexecve
 *   exec-shell              execve("/bin/sh", "-c", "exit 0")
 * mount and setns fail harmlessly unconfined too, with another errno than a filter's EPERM: the tests
 * check the errno.
 * The two exec attacks replace the stub if they succeed; the program run then exits 0 at once, so the
 * stub is gone (its request answered 502), which the test sees. Every attack is meant to change nothing
 * outside this process when it succeeds: use signal and open-write against throwaway targets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINE (1u << 20)
#define SANDBOX_INTERNAL "hyperty-runtime://sandbox/internal"

extern char **environ;

/* MARK: output */

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            _exit(0); /* the runtime closed our stdout */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One message being written: appended to, then written as one line. */
static char out[16384];
static size_t out_len;

static void put(const char *p, size_t n) {
    if (n > sizeof out - 2 - out_len)
        n = sizeof out - 2 - out_len;
    memcpy(out + out_len, p, n);
    out_len += n;
}

#define PUT_LIT(s) put((s), sizeof(s) - 1)

static void putf(const char *format, ...) {
    char text[4096];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (n > 0)
        put(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* `text` as a JSON string, quotes included. */
static void put_string(const char *text) {
    PUT_LIT("\"");
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char escaped[2] = {'\\', (char)*c};
            put(escaped, 2);
        } else if (*c < 0x20 || *c >= 0x7f) {
            putf("\\u%04x", *c);
        } else {
            put((const char *)c, 1);
        }
    }
    PUT_LIT("\"");
}

static void send_line(void) {
    out[out_len++] = '\n';
    write_all(out, out_len);
    out_len = 0;
}

static void log_line(int prio, const char *text) {
    char line[600];
    int n = snprintf(line, sizeof line, "<%d>rethink-hostile-native-stub: %s\n", prio, text);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0) {
        /* nobody reads our journal: nothing to do */
    }
}

/* MARK: JSON scanning: just enough to find members and skip what is not wanted */

typedef struct {
    const char *p, *end; /* a raw JSON token; p == NULL: absent */
} span;

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p on an opening quote: the position after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* The position after the value at p, or NULL if there is none. Nesting is counted, not validated. */
static const char *skip_value(const char *p, const char *end) {
    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* The value of member `key` of the object `object` (top level only). */
static span member(span object, const char *key) {
    span none = {NULL, NULL};
    if (!object.p || *object.p != '{')
        return none;
    size_t key_len = strlen(key);
    const char *p = object.p + 1, *end = object.end;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return none;
        const char *key_end = skip_string(p, end);
        if (!key_end)
            return none;
        int match = (size_t)(key_end - p - 2) == key_len && memcmp(p + 1, key, key_len) == 0;
        p = skip_ws(key_end, end);
        if (p >= end || *p != ':')
            return none;
        const char *value = skip_ws(p + 1, end);
        const char *value_end = skip_value(value, end);
        if (!value_end)
            return none;
        if (match)
            return (span){value, value_end};
        p = skip_ws(value_end, end);
        if (p >= end || *p != ',')
            return none;
        p++;
    }
}

static int is_string(span t) { return t.p && *t.p == '"'; }

/* A string token decoded into `buffer` (\uXXXX only for ASCII); 0 if it is not a string or too long. */
static int string_of(span t, char *buffer, size_t cap) {
    if (!is_string(t))
        return 0;
    size_t n = 0;
    for (const char *p = t.p + 1; p < t.end - 1; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            if (c == 'u') {
                unsigned code = 0;
                if (sscanf(p + 1, "%4x", &code) != 1 || code == 0 || code >= 0x80)
                    return 0;
                c = (char)code;
                p += 4;
            } else {
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
            }
        }
        if (n + 1 >= cap)
            return 0;
        buffer[n++] = c;
    }
    buffer[n] = 0;
    return 1;
}

static int number_of(span t, long *value) {
    if (!t.p)
        return 0;
    char *stop;
    *value = strtol(t.p, &stop, 10);
    return stop > t.p && stop <= t.end;
}

static int token_is(span t, const char *word) {
    char text[64];
    return string_of(t, text, sizeof text) && strcasecmp(text, word) == 0;
}

/* MARK: attacks */

typedef struct {
    const char *outcome; /* "refused" or "allowed" */
    int error;           /* the errno of the refused step, 0: none */
    char detail[512];
} result;

typedef struct {
    span args; /* the object holding the arguments */
    int bad;   /* a missing or malformed argument: 400 */
    char bad_reason[128];
} request;

static long arg_number(request *r, const char *name, long fallback, int required) {
    long value;
    span t = member(r->args, name);
    if (number_of(t, &value))
        return value;
    if (required || t.p) {
        r->bad = 1;
        snprintf(r->bad_reason, sizeof r->bad_reason, "args.%s must be a number", name);
    }
    return fallback;
}

static const char *arg_string(request *r, const char *name, const char *fallback, char *buffer, size_t cap) {
    span t = member(r->args, name);
    if (string_of(t, buffer, cap))
        return buffer;
    if (!fallback || t.p) {
        r->bad = 1;
        snprintf(r->bad_reason, sizeof r->bad_reason, "args.%s must be a string", name);
    }
    snprintf(buffer, cap, "%s", fallback ? fallback : "");
    return buffer;
}

/* Records the outcome; returns 0 so that an attack can end with `return set(...)`. */
static int set(result *res, const char *outcome, int error, const char *format, ...) {
    res->outcome = outcome;
    res->error = error;
    va_list args;
    va_start(args, format);
    vsnprintf(res->detail, sizeof res->detail, format, args);
    va_end(args);
    return 0;
}

#define REFUSED(res, step) set((res), "refused", errno, "%s failed", (step))

static int open_path(result *res, const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return REFUSED(res, path);
    close(fd);
    return set(res, "allowed", 0, "opened %s (closed, nothing written)", path);
}

static int read_path(result *res, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return REFUSED(res, path);
    char buffer[256];
    ssize_t n = read(fd, buffer, sizeof buffer);
    int error = errno;
    close(fd);
    if (n < 0)
        return set(res, "refused", error, "reading %s failed", path);
    return set(res, "allowed", 0, "read %zd bytes of %s", n, path);
}

static int attack_ptrace(result *res, pid_t pid) {
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0)
        return REFUSED(res, "ptrace(PTRACE_ATTACH)");
    waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
    return set(res, "allowed", 0, "attached to %d (detached at once)", (int)pid);
}

static int attack_process_vm(result *res, pid_t pid) {
    char local[8];
    static const char guess[8] = "guess"; /* an address of ours: the target's may differ */
    struct iovec mine = {local, sizeof local}, theirs = {(void *)guess, sizeof guess};
    ssize_t n = process_vm_readv(pid, &mine, 1, &theirs, 1, 0);
    if (n >= 0)
        return set(res, "allowed", 0, "read %zd bytes of %d's memory", n, (int)pid);
    if (errno == EFAULT)
        return set(res, "allowed", 0, "access to %d's memory granted; the guessed address is unmapped", (int)pid);
    return REFUSED(res, "process_vm_readv");
}

static int attack_kill(result *res, pid_t pid) {
    if (kill(pid, 0) != 0)
        return set(res, "refused", errno, "kill(%d, 0) failed", (int)pid);
    return set(res, "allowed", 0, "kill(%d, 0) succeeded (signal 0 sends nothing)", (int)pid);
}

static int attack_open_write(result *res, const char *path) {
    struct stat before;
    int existed = lstat(path, &before) == 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return REFUSED(res, path);
    close(fd);
    if (!existed)
        unlink(path);
    return set(res, "allowed", 0, "opened %s for writing (nothing written%s)", path,
               existed ? "" : "; the new file removed");
}

static int attack_setuid(result *res, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 04755);
    if (fd < 0)
        return REFUSED(res, "open(O_CREAT, 04755)");
    struct stat st;
    int stated = fstat(fd, &st) == 0;
    int error = errno;
    close(fd);
    unlink(path);
    if (!stated)
        return set(res, "refused", error, "fstat failed");
    if (st.st_mode & S_ISUID)
        return set(res, "allowed", 0, "created %s with mode %o (removed)", path, (unsigned)(st.st_mode & 07777));
    return set(res, "refused", 0, "created %s without S_ISUID: mode %o (removed)", path,
               (unsigned)(st.st_mode & 07777));
}

static int attack_socket(result *res, int domain, int type, int protocol, const char *what) {
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return REFUSED(res, what);
    close(fd);
    return set(res, "allowed", 0, "%s made (closed at once)", what);
}

static int inet_address(request *r, struct sockaddr_in *address, char *host, size_t cap) {
    const char *name = arg_string(r, "host", "127.0.0.1", host, cap);
    long port = arg_number(r, "port", 0, 1);
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t)port);
    if (!r->bad && (port <= 0 || port > 65535 || inet_pton(AF_INET, name, &address->sin_addr) != 1)) {
        r->bad = 1;
        snprintf(r->bad_reason, sizeof r->bad_reason, "args.host must be an IPv4 literal, args.port 1-65535");
    }
    return !r->bad;
}

static int attack_tcp(result *res, request *r) {
    struct sockaddr_in address;
    char host[64];
    if (!inet_address(r, &address, host, sizeof host))
        return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return REFUSED(res, "socket(AF_INET, SOCK_STREAM)");
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&address, sizeof address);
    while (rc != 0 && errno == EINTR);
    int error = errno;
    close(fd);
    if (rc != 0)
        return set(res, "refused", error, "connect to %s:%d failed", host, ntohs(address.sin_port));
    return set(res, "allowed", 0, "connected to %s:%d", host, ntohs(address.sin_port));
}

static int attack_udp(result *res, request *r, int with_sendmsg) {
    struct sockaddr_in address;
    char host[64];
    if (!inet_address(r, &address, host, sizeof host))
        return 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return REFUSED(res, "socket(AF_INET, SOCK_DGRAM)");
    char payload[] = "probe";
    ssize_t n;
    if (with_sendmsg) {
        struct iovec part = {payload, 5};
        struct msghdr message = {
            .msg_name = &address, .msg_namelen = sizeof address, .msg_iov = &part, .msg_iovlen = 1};
        n = sendmsg(fd, &message, 0);
    } else {
        n = sendto(fd, payload, 5, 0, (struct sockaddr *)&address, sizeof address);
    }
    int error = errno;
    close(fd);
    const char *call = with_sendmsg ? "sendmsg" : "sendto";
    if (n != 5)
        return set(res, "refused", n < 0 ? error : 0, "%s to %s:%d failed", call, host, ntohs(address.sin_port));
    return set(res, "allowed", 0, "%s of 5 bytes to %s:%d", call, host, ntohs(address.sin_port));
}

static int attack_unix_connect(result *res, const char *path) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path)
        return set(res, "refused", ENAMETOOLONG, "path too long for sun_path");
    strcpy(address.sun_path, path);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0)
        return REFUSED(res, "socketpair(AF_UNIX, SOCK_DGRAM)");
    int rc = connect(pair[0], (struct sockaddr *)&address, sizeof address);
    int error = errno;
    ssize_t sent = rc == 0 ? send(pair[0], "probe", 5, 0) : -1;
    close(pair[0]);
    close(pair[1]);
    if (rc != 0)
        return set(res, "refused", error, "connect of a socketpair end to %s failed", path);
    return set(res, "allowed", 0, "a socketpair end connected to %s (send: %zd)", path, sent);
}

static int attack_memfd_exec(result *res) {
    int memfd = (int)syscall(SYS_memfd_create, "attack", 0u);
    if (memfd < 0)
        return REFUSED(res, "memfd_create");
    int program = open("/bin/true", O_RDONLY | O_CLOEXEC);
    if (program < 0) {
        int error = errno;
        close(memfd);
        return set(res, "refused", error, "memfd_create succeeded; opening /bin/true failed");
    }
    char buffer[65536];
    ssize_t n;
    while ((n = read(program, buffer, sizeof buffer)) > 0)
        if (write(memfd, buffer, (size_t)n) != n)
            break;
    close(program);
    char *argv[] = {"true", NULL};
    fexecve(memfd, argv, environ);
    int error = errno;
    close(memfd);
    return set(res, "refused", error, "memfd_create succeeded; fexecve failed");
}

static int attack_exec_shell(result *res) {
    char *argv[] = {"sh", "-c", "exit 0", NULL};
    execve("/bin/sh", argv, environ);
    return REFUSED(res, "execve(/bin/sh)");
}

/* Makes the attack `name`; 0 if there is no such attack. */
static int run_attack(const char *name, request *r, result *res) {
    char path[512];
    pid_t parent = getppid();
    if (strcmp(name, "proc-mem") == 0) {
        char file[64];
        snprintf(file, sizeof file, "/proc/%ld/mem", arg_number(r, "pid", parent, 0));
        if (!r->bad)
            open_path(res, file, O_RDWR);
    } else if (strcmp(name, "proc-syscall") == 0) {
        char file[64];
        snprintf(file, sizeof file, "/proc/%ld/syscall", arg_number(r, "pid", parent, 0));
        if (!r->bad)
            read_path(res, file);
    } else if (strcmp(name, "ptrace") == 0) {
        pid_t pid = (pid_t)arg_number(r, "pid", parent, 0);
        if (!r->bad)
            attack_ptrace(res, pid);
    } else if (strcmp(name, "process-vm") == 0) {
        pid_t pid = (pid_t)arg_number(r, "pid", parent, 0);
        if (!r->bad)
            attack_process_vm(res, pid);
    } else if (strcmp(name, "signal") == 0) {
        pid_t pid = (pid_t)arg_number(r, "pid", parent, 0);
        if (!r->bad)
            attack_kill(res, pid);
    } else if (strcmp(name, "kill-group") == 0) {
        attack_kill(res, -1);
    } else if (strcmp(name, "open-read") == 0) {
        const char *file = arg_string(r, "path", NULL, path, sizeof path);
        if (!r->bad)
            read_path(res, file);
    } else if (strcmp(name, "open-write") == 0) {
        const char *file = arg_string(r, "path", NULL, path, sizeof path);
        if (!r->bad)
            attack_open_write(res, file);
    } else if (strcmp(name, "setuid-create") == 0) {
        const char *file = arg_string(r, "path", "setuid-probe", path, sizeof path);
        if (!r->bad)
            attack_setuid(res, file);
    } else if (strcmp(name, "raw-icmp") == 0) {
        attack_socket(res, AF_INET, SOCK_RAW, IPPROTO_ICMP, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)");
    } else if (strcmp(name, "packet-socket") == 0) {
        attack_socket(res, AF_PACKET, SOCK_RAW, 0, "socket(AF_PACKET, SOCK_RAW, 0)");
    } else if (strcmp(name, "sock-packet") == 0) {
        attack_socket(res, AF_INET, SOCK_PACKET, htons(0x0003), "socket(AF_INET, SOCK_PACKET, ETH_P_ALL)");
    } else if (strcmp(name, "unix-socket") == 0) {
        attack_socket(res, AF_UNIX, SOCK_STREAM, 0, "socket(AF_UNIX, SOCK_STREAM, 0)");
    } else if (strcmp(name, "netlink-socket") == 0) {
        attack_socket(res, AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */, "socket(AF_NETLINK, SOCK_RAW, 0)");
    } else if (strcmp(name, "tcp-connect") == 0) {
        attack_tcp(res, r);
    } else if (strcmp(name, "udp-sendto") == 0) {
        attack_udp(res, r, 0);
    } else if (strcmp(name, "udp-sendmsg") == 0) {
        attack_udp(res, r, 1);
    } else if (strcmp(name, "unix-connect") == 0) {
        const char *file = arg_string(r, "path", NULL, path, sizeof path);
        if (!r->bad)
            attack_unix_connect(res, file);
    } else if (strcmp(name, "mount") == 0) {
        if (mount("none", "/nonexistent-rethink-attack", "tmpfs", 0, NULL) != 0)
            REFUSED(res, "mount");
        else
            set(res, "allowed", 0, "mounted a tmpfs");
    } else if (strcmp(name, "unshare") == 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            REFUSED(res, "unshare(CLONE_NEWUSER | CLONE_NEWNS)");
        else
            set(res, "allowed", 0, "in new user and mount namespaces");
    } else if (strcmp(name, "setns") == 0) {
        if (setns(-1, CLONE_NEWNS) != 0)
            REFUSED(res, "setns");
        else
            set(res, "allowed", 0, "setns succeeded");
    } else if (strcmp(name, "dev") == 0) {
        const char *file = arg_string(r, "path", "/dev/kvm", path, sizeof path);
        if (!r->bad)
            open_path(res, file, O_RDWR);
    } else if (strcmp(name, "memfd-exec") == 0) {
        attack_memfd_exec(res);
    } else if (strcmp(name, "exec-shell") == 0) {
        attack_exec_shell(res);
    } else {
        return 0;
    }
    return 1;
}

/* MARK: the stub */

static char stub_url[1024]; /* the inside of the deploy message's body.url token, still escaped */
static int deployed;

static void put_response_head(span id, span from, span to) {
    PUT_LIT("{\"id\":");
    put(id.p, (size_t)(id.end - id.p));
    PUT_LIT(",\"type\":\"response\",\"from\":");
    if (to.p)
        put(to.p, (size_t)(to.end - to.p));
    else
        PUT_LIT("null");
    PUT_LIT(",\"to\":");
    if (from.p)
        put(from.p, (size_t)(from.end - from.p));
    else
        PUT_LIT("null");
}

static void send_status(const char *value) {
    putf("{\"type\":\"update\",\"from\":\"%s\",\"to\":\"%s/status\",\"body\":{\"value\":\"%s\"}}", stub_url, stub_url,
         value);
    send_line();
}

static void deploy(span id, span body) {
    span url = member(body, "url");
    size_t n = is_string(url) ? (size_t)(url.end - url.p - 2) : 0;
    int ok = n > 0 && n < sizeof stub_url && !deployed;
    if (ok) {
        memcpy(stub_url, url.p + 1, n);
        stub_url[n] = 0;
    }
    putf("{\"id\":%.*s,\"type\":\"response\",\"from\":\"" SANDBOX_INTERNAL
         "\",\"to\":\"hyperty-runtime://sandbox/external\",\"body\":{\"code\":%d}}",
         id.p ? (int)(id.end - id.p) : 4, id.p ? id.p : "null", ok ? 200 : deployed ? 409 : 500);
    send_line();
    if (!ok)
        return;
    deployed = 1;
    send_status("created");
    send_status("in-progress");
    send_status("live");
    log_line(6, "deployed");
}

static void answer_bad(span id, span from, span to, const char *desc) {
    put_response_head(id, from, to);
    PUT_LIT(",\"body\":{\"code\":400,\"desc\":");
    put_string(desc);
    PUT_LIT("}}");
    send_line();
}

/* Any request but an attack, as the echo stub answers it (the runtime's deploy request among them). */
static void echo(span id, span from, span to, span body) {
    span value = member(body, "value");
    put_response_head(id, from, to);
    putf(",\"body\":{\"code\":200,\"desc\":\"echo from %s\",\"value\":", stub_url);
    if (value.p)
        put(value.p, (size_t)(value.end - value.p));
    else
        PUT_LIT("null");
    PUT_LIT("}}");
    send_line();
}

static void execute(span id, span from, span to, span body) {
    char name[64];
    if (!string_of(member(body, "attack"), name, sizeof name)) {
        answer_bad(id, from, to, "body.attack must be a string");
        return;
    }
    request r = {.args = member(body, "args")};
    if (!r.args.p || *r.args.p != '{')
        r.args = body;
    result res = {.outcome = "refused"};
    char text[600];
    snprintf(text, sizeof text, "attack %s", name);
    log_line(6, text);
    if (!run_attack(name, &r, &res)) {
        snprintf(text, sizeof text, "unknown attack %s", name);
        answer_bad(id, from, to, text);
        return;
    }
    if (r.bad) {
        answer_bad(id, from, to, r.bad_reason);
        return;
    }
    put_response_head(id, from, to);
    PUT_LIT(",\"body\":{\"code\":200,\"value\":{\"attack\":");
    put_string(name);
    putf(",\"outcome\":\"%s\",\"errno\":", res.outcome);
    if (res.error) {
        const char *error_name = strerrorname_np(res.error);
        char number[16];
        snprintf(number, sizeof number, "E%d", res.error);
        put_string(error_name ? error_name : number);
    } else {
        PUT_LIT("null");
    }
    PUT_LIT(",\"detail\":");
    put_string(res.detail);
    PUT_LIT("}}}");
    send_line();
}

/* Handles one line; 0 when the stub must exit. */
static int handle_line(const char *line, size_t n) {
    span message = {skip_ws(line, line + n), line + n};
    if (message.p >= message.end || *message.p != '{' || skip_value(message.p, message.end) == NULL) {
        log_line(4, "skipping a MiniBUS line that is not a JSON object");
        return 1;
    }
    span id = member(message, "id"), type = member(message, "type"), from = member(message, "from"),
         to = member(message, "to"), body = member(message, "body");
    if (token_is(to, SANDBOX_INTERNAL)) {
        if (token_is(type, "create"))
            deploy(id, body);
        else if (token_is(type, "delete"))
            return 0;
        return 1;
    }
    if (!id.p || (id.end - id.p == 4 && memcmp(id.p, "null", 4) == 0) || token_is(type, "response"))
        return 1;
    if (token_is(type, "execute") && member(body, "attack").p)
        execute(id, from, to, body);
    else
        echo(id, from, to, body);
    return 1;
}

int main(void) {
    static char buffer[MAX_LINE];
    size_t used = 0;
    int discarding = 0; /* inside a line longer than MAX_LINE */
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buffer + used, sizeof buffer - used);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            return 0;
        size_t start = 0, end = used + (size_t)got;
        char *newline;
        while ((newline = memchr(buffer + start, '\n', end - start)) != NULL) {
            size_t stop = (size_t)(newline - buffer);
            if (discarding)
                discarding = 0;
            else if (!handle_line(buffer + start, stop - start))
                return 0;
            start = stop + 1;
        }
        used = end - start;
        memmove(buffer, buffer + start, used);
        if (used == sizeof buffer) {
            log_line(4, "skipping a MiniBUS line longer than 1 MiB");
            discarding = 1;
            used = 0;
        }
    }
}
