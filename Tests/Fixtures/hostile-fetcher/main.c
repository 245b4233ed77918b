/*
 * rethink-hostile-fetcher: what `rethink-fetch` would be once a hostile server had taken it over (through a
 * TLS or HTTP parser bug), for the fetcher isolation tests. It reads the daemon's request line, takes its
 * targets from the URL's query (pid=<n>&port=<n>&read=<path>&write=<path>), tries each with raw system calls,
 * and answers like a fetcher would: 200, with a body naming each attempt's outcome,
 *   "proc-mem=EACCES tcp=ECONNREFUSED read=ok write=ok"
 * where `ok` means the attempt worked (a breach when confined). Attempts change nothing that lasts: the
 * /proc/<pid>/mem descriptor is closed at once, the connection too, a written file is removed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char request[65536];
static char body[4096];

/* The value of `name=` in the request's URL, up to '&' or '"', into out; 0 if absent. */
static int query(const char *name, char *out, size_t size) {
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *start = strstr(request, key);
    if (!start) return 0;
    start += strlen(key);
    size_t length = strcspn(start, "&\"");
    if (length >= size) return 0;
    memcpy(out, start, length);
    out[length] = 0;
    /* JSON escapes '/' as "\/": undo it. */
    char *write = out;
    for (const char *read = out; *read; read++) {
        if (read[0] == '\\' && read[1] == '/') continue;
        *write++ = *read;
    }
    *write = 0;
    return 1;
}

static void outcome(const char *attempt, int ok, int error) {
    size_t used = strlen(body);
    snprintf(body + used, sizeof body - used, "%s%s=%s", used ? " " : "", attempt, ok ? "ok" : strerrorname_np(error));
}

int main(void) {
    size_t used = 0;
    ssize_t count;
    while (used < sizeof request - 1 && (count = read(0, request + used, sizeof request - 1 - used)) > 0) {
        used += (size_t)count;
        if (memchr(request, '\n', used)) break;
    }
    request[used] = 0;
    char value[1024];
    if (query("pid", value, sizeof value)) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%s/mem", value);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        outcome("proc-mem", fd >= 0, errno);
        if (fd >= 0) close(fd);
    }
    if (query("port", value, sizeof value)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(value))};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
        outcome("tcp", ok, errno);
        if (fd >= 0) close(fd);
    }
    if (query("read", value, sizeof value)) {
        char byte;
        int fd = open(value, O_RDONLY | O_CLOEXEC);
        int ok = fd >= 0 && read(fd, &byte, 1) >= 0;
        outcome("read", ok, errno);
        if (fd >= 0) close(fd);
    }
    if (query("write", value, sizeof value)) {
        int fd = open(value, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        outcome("write", fd >= 0, errno);
        if (fd >= 0) {
            close(fd);
            unlink(value);
        }
    }
    char reply[4608];
    int length = snprintf(reply, sizeof reply, "{\"status\":200,\"bodyBytes\":%zu}\n%s", strlen(body), body);
    for (int offset = 0; offset < length;) {
        ssize_t written = write(1, reply + offset, (size_t)(length - offset));
        if (written <= 0) return 1;
        offset += (int)written;
    }
    return 0;
}
