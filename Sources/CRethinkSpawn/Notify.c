/* seccomp user notification: the daemon's side of the calls a stub's filter hands to it. */
#define _GNU_SOURCE
#include "CRethinkSpawn.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int rt_notify_receive(int listener, rt_notification *out) {
    struct seccomp_notif request;
    memset(&request, 0, sizeof request);
    int result;
    do {
        result = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return -1;
    out->id = request.id;
    out->pid = request.pid;
    out->nr = request.data.nr;
    for (int i = 0; i < 6; i++) out->args[i] = request.data.args[i];
    return 0;
}

int rt_notify_respond(int listener, uint64_t id, int64_t value, int error) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof response);
    response.id = id;
    response.val = error != 0 ? 0 : value;
    response.error = error != 0 ? -error : 0;
    int result;
    do {
        result = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
    } while (result < 0 && errno == EINTR);
    return result;
}

int rt_notify_id_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

int rt_pidfd_getfd(int pidfd, int target_fd) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0U);
}

long rt_read_memory(pid_t pid, uint64_t address, void *buffer, size_t length) {
    struct iovec local = {buffer, length};
    struct iovec remote = {(void *)(uintptr_t)address, length};
    return (long)process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

long rt_write_memory(pid_t pid, uint64_t address, const void *buffer, size_t length) {
    struct iovec local = {(void *)buffer, length};
    struct iovec remote = {(void *)(uintptr_t)address, length};
    return (long)process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

int rt_set_non_dumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int rt_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
