/* Preloaded into the daemon only while scripts/link-order/generate.sh traces it under valgrind: valgrind does
 * not know the seccomp() system call, so libseccomp's probe of the kernel finds API level 1, and the daemon's
 * filters (which use SCMP_ACT_KILL_PROCESS) would fail to compile and take another path than they do in use.
 * The kernel here has level 6; the daemon only compiles and exports filters, the spawn helper (not traced)
 * loads them. */
#include <seccomp.h>

__attribute__((constructor)) static void force_seccomp_api(void) { seccomp_api_set(6); }
