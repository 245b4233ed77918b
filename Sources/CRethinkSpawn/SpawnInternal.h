/* What CRethinkSpawn.c and SpawnHelper.c share; not part of the shim's header. */
#ifndef RT_SPAWN_INTERNAL_H
#define RT_SPAWN_INTERNAL_H

#include "CRethinkSpawn.h"

#include <linux/filter.h>

#define RT_BPF_MAX_INSNS 4096

/* The child side of a spawn (CRethinkSpawn.c): set-up, then execve; reports a failed step on pipe_fd and
 * exits 127. Waits for one byte on go_fd before execve. `parent` is the pid getppid() must return.
 * `dispositions_default`: every signal disposition is already SIG_DFL (a spawn helper's clone), so the
 * child skips resetting them. */
__attribute__((noreturn)) void rt_child(const rt_spawn_config *config, const struct sock_fprog *prog, int pipe_fd,
                                        int go_fd, pid_t parent, int dispositions_default);

/* Sets every signal but SIGKILL and SIGSTOP to SIG_DFL (async-signal-safe); -1 with errno on failure. */
int rt_reset_signal_dispositions(void);

/* Asks the spawn helper on `helper` to clone the child (SpawnHelper.c). error_fd and go_fd are the child's
 * ends of the two pipes. Returns 0 with *pid and *pidfd set; 1 when nothing was sent (spawn in-process
 * instead; *lost says whether the helper is gone); -1 with *failure set when the helper failed the clone,
 * or with *lost set when it went away with the request (it may have cloned: the caller must not reuse
 * the pipes). */
int rt_helper_spawn(int helper, const rt_spawn_config *config, int error_fd, int go_fd, pid_t *pid, int *pidfd,
                    rt_spawn_failure *failure, int *lost);

#endif
