/*
 * rethink-spawn-helper: the spawn helper as a program of its own (SpawnHelper.c, docs/SANDBOX.md).
 *
 * The daemon's spawner threads fork and exec it at start-up, with the helper's socket on fd 3 and the
 * daemon's pid as the one argument. It is small and static on purpose: every stub is cloned from this
 * process, and a clone, then the stub's execve, copy and tear down this address space, which here is a
 * dozen mappings instead of the daemon's libraries and thread stacks. It is not meant to be run by hand.
 */
#include "CRethinkSpawn.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    char *end = NULL;
    long daemon = argc == 2 ? strtol(argv[1], &end, 10) : 0;
    int type = 0;
    socklen_t length = sizeof type;
    if (argc != 2 || end == argv[1] || *end != '\0' || daemon <= 1 ||
        getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_SEQPACKET) {
        fputs("rethink-spawn-helper: started by rethink-runtimed only (a socket on fd 3, the daemon's pid)\n",
              stderr);
        return 2;
    }
    rt_spawn_helper_main(3, (pid_t)daemon);
}
