/* Landlock system calls (no glibc wrappers). The kernel ABI is spelled out here because Debian 12's
 * linux/landlock.h predates the network and scoping rights. */
#define _GNU_SOURCE
#include "CRethinkSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif

#define RT_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define RT_LANDLOCK_RULE_PATH_BENEATH 1
#define RT_LANDLOCK_RULE_NET_PORT 2

struct rt_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct rt_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct rt_landlock_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

int rt_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, RT_LANDLOCK_CREATE_RULESET_VERSION);
}

int rt_landlock_create_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped) {
    struct rt_landlock_ruleset_attr attr = {handled_fs, handled_net, scoped};
    /* Older kernels take the smaller structure (an ABI below 4 knows no network rights, below 6 no scopes). */
    size_t size = scoped != 0 ? sizeof attr : handled_net != 0 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0U);
}

int rt_landlock_add_path(int ruleset_fd, const char *path, uint64_t allowed, uint64_t file_rights) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat info;
    int result = fstat(fd, &info);
    if (result == 0) {
        /* The kernel refuses directory rights on anything but a directory. */
        if (!S_ISDIR(info.st_mode)) allowed &= file_rights;
        result = rt_landlock_add_fd(ruleset_fd, fd, allowed);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

int rt_open_path(const char *path) {
    return open(path, O_PATH | O_CLOEXEC);
}

int rt_landlock_add_fd(int ruleset_fd, int fd, uint64_t allowed) {
    struct rt_landlock_path_beneath_attr rule = {allowed, fd};
    return (int)syscall(SYS_landlock_add_rule, ruleset_fd, RT_LANDLOCK_RULE_PATH_BENEATH, &rule, 0U);
}

int rt_landlock_add_port(int ruleset_fd, uint64_t port, uint64_t allowed) {
    struct rt_landlock_net_port_attr rule = {allowed, port};
    return (int)syscall(SYS_landlock_add_rule, ruleset_fd, RT_LANDLOCK_RULE_NET_PORT, &rule, 0U);
}
