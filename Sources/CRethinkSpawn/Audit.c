/* The kernel audit's netlink interface, for the Landlock denials the daemon logs (no library for it is
 * packaged for Swift; libaudit would add a dependency for four messages). Runs in the daemon only. */
#define _GNU_SOURCE
#include "CRethinkSpawn.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int rt_audit_open_readlog(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
    if (fd < 0) return -1;
    /* Every process's audit records come here, not only the stubs': room for a burst, so that the one
     * that matters is not dropped (ENOBUFS) while the daemon is busy. */
    int size = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    struct sockaddr_nl address = {.nl_family = AF_NETLINK, .nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1)};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* One request and its answer on a fresh unicast socket: AUDIT_GET (reads status) or AUDIT_SET. */
static int audit_exchange(uint16_t type, struct audit_status *status) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (fd < 0) return -1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct {
        struct nlmsghdr header;
        struct audit_status status;
    } request = {0};
    request.header.nlmsg_len = NLMSG_LENGTH(type == AUDIT_SET ? sizeof request.status : 0);
    request.header.nlmsg_type = type;
    request.header.nlmsg_flags = NLM_F_REQUEST | (type == AUDIT_SET ? NLM_F_ACK : 0);
    request.header.nlmsg_seq = 1;
    if (type == AUDIT_SET) request.status = *status;
    int result = -1;
    if (sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) goto out;
    for (int tries = 0; tries < 4; tries++) {
        char buffer[1024];
        ssize_t got = recv(fd, buffer, sizeof buffer, 0);
        if (got < (ssize_t)NLMSG_HDRLEN) goto out;
        struct nlmsghdr *answer = (struct nlmsghdr *)buffer;
        if (answer->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *error = NLMSG_DATA(answer);
            if (error->error != 0) {
                errno = -error->error;
                goto out;
            }
            if (type == AUDIT_SET) {
                result = 0;
                goto out;
            }
            continue;
        }
        if (answer->nlmsg_type == AUDIT_GET && type == AUDIT_GET) {
            memcpy(status, NLMSG_DATA(answer), sizeof *status);
            result = 0;
            goto out;
        }
    }
    errno = EPROTO;
out:;
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

int rt_audit_enabled(void) {
    struct audit_status status = {0};
    if (audit_exchange(AUDIT_GET, &status) != 0) return -1;
    return (int)status.enabled;
}

int rt_audit_enable(void) {
    struct audit_status status = {0};
    /* On, with room for a burst: the kernel drops records past its backlog (64 by default) and many stubs
     * starting at once are refused a few paths each. */
    status.mask = AUDIT_STATUS_ENABLED | AUDIT_STATUS_BACKLOG_LIMIT;
    status.enabled = 1;
    status.backlog_limit = 8192;
    return audit_exchange(AUDIT_SET, &status);
}

long rt_audit_receive(int fd, uint16_t *type, char *text, size_t capacity) {
    char buffer[8960];
    ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got < 0) return -1;
    if (got < (ssize_t)NLMSG_HDRLEN) {
        *type = 0;
        return 0;
    }
    struct nlmsghdr *header = (struct nlmsghdr *)buffer;
    size_t length = header->nlmsg_len <= (size_t)got ? header->nlmsg_len : (size_t)got;
    size_t payload = length > NLMSG_HDRLEN ? length - NLMSG_HDRLEN : 0;
    if (payload > capacity) payload = capacity;
    memcpy(text, buffer + NLMSG_HDRLEN, payload);
    *type = header->nlmsg_type;
    return (long)payload;
}
