/*
 * CSeccomp: libseccomp for Swift.
 *
 * Swift imports libseccomp's functions but not its function-like macros, so
 * the actions and argument comparisons are wrapped here as static inline
 * functions. seccomp_rule_add() is variadic: call seccomp_rule_add_array()
 * with an array built from rt_scmp_arg().
 */
#ifndef CSECCOMP_H
#define CSECCOMP_H

#include <seccomp.h>
#include <stdint.h>

/* Fail the call with the given errno instead of running it. */
static inline uint32_t rt_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }

/* Kill the whole process with SIGSYS. */
static inline uint32_t rt_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }

/* Kill only the calling thread with SIGSYS. */
static inline uint32_t rt_scmp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }

/* Hand the call to the filter's user-notification listener (the daemon's supervisor). */
static inline uint32_t rt_scmp_act_notify(void) { return SCMP_ACT_NOTIFY; }

/* Run the call. */
static inline uint32_t rt_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }

/* Run the call and log it (audit). */
static inline uint32_t rt_scmp_act_log(void) { return SCMP_ACT_LOG; }

/* Notify a ptrace tracer with the given message data. */
static inline uint32_t rt_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }

/* Deliver SIGSYS to the calling thread (catchable). */
static inline uint32_t rt_scmp_act_trap(void) { return SCMP_ACT_TRAP; }

/*
 * One comparison on a system call argument, like SCMP_A0(op, datum) ... SCMP_A5.
 * For SCMP_CMP_MASKED_EQ, datumA is the mask and datumB the value compared with
 * (arg & mask); for the other operators datumB is ignored.
 */
static inline struct scmp_arg_cmp rt_scmp_arg(unsigned int arg, enum scmp_compare op,
                                              scmp_datum_t datumA, scmp_datum_t datumB) {
    struct scmp_arg_cmp cmp = {arg, op, datumA, datumB};
    return cmp;
}

#endif
