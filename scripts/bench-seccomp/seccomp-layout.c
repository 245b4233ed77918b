/* What installing a seccomp filter costs, libseccomp's linear layout (the baseline) against its binary tree
 * (SCMP_FLTATR_CTL_OPTIMIZE 2), with an allowlist about the size of a stub's: docs/BENCHMARK.md.
 * Each sample is one seccomp(2) in a fresh child, timed there. Usage: seccomp-layout [samples]. */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 140 allowed calls (every one of 0-19, then every other number), exit_group, and one call allowed only with a
 * given first argument, so that the filter has an argument check like a stub's. */
static struct sock_fprog build(int tree) {
    scmp_filter_ctx context = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (context == NULL) exit(2);
    seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (tree) seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    int allowed = 0;
    for (int number = 0; number < 330 && allowed < 140; number += number < 20 ? 1 : 2) {
        if (seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0) == 0) allowed++;
    }
    seccomp_rule_add(context, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
    seccomp_rule_add(context, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, 1));
    int fd = memfd_create("seccomp-layout", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(context, fd) != 0) exit(2);
    off_t length = lseek(fd, 0, SEEK_END);
    struct sock_filter *filter = malloc((size_t)length);
    if (filter == NULL || pread(fd, filter, (size_t)length, 0) != length) exit(2);
    close(fd);
    seccomp_release(context);
    struct sock_fprog program = {.len = (unsigned short)(length / 8), .filter = filter};
    return program;
}

/* The median install time of `program` over `samples` children, in ms. */
static double median_install(const struct sock_fprog *program, int samples) {
    double *times = calloc((size_t)samples, sizeof *times);
    if (times == NULL) exit(2);
    for (int i = 0; i < samples; i++) {
        int fds[2];
        if (pipe(fds) != 0) exit(2);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            double start = now_ms();
            long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, program);
            double took = result == 0 ? now_ms() - start : -1;
            (void)!write(fds[1], &took, sizeof took); /* write is allowed (number 1) */
            _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], &times[i], sizeof times[i]) != sizeof times[i] || times[i] < 0) {
            fprintf(stderr, "seccomp-layout: the filter did not install\n");
            exit(1);
        }
        close(fds[0]);
        waitpid(pid, NULL, 0);
    }
    qsort(times, (size_t)samples, sizeof *times, compare);
    double median = times[samples / 2];
    free(times);
    return median;
}

int main(int argc, char **argv) {
    int samples = argc > 1 ? atoi(argv[1]) : 200;
    if (samples < 1) samples = 200;
    struct sock_fprog linear = build(0), tree = build(1);
    /* Interleaved rounds, so that a slower stretch of the machine falls on both. */
    double linear_sum = 0, tree_sum = 0;
    for (int round = 0; round < 5; round++) {
        linear_sum += median_install(&linear, samples / 5 + 1);
        tree_sum += median_install(&tree, samples / 5 + 1);
    }
    printf("seccomp(2) install, mean of 5 rounds' medians: linear (baseline) %u instructions %.3f ms, "
           "binary tree %u instructions %.3f ms, tree/linear %.2f\n",
           linear.len, linear_sum / 5, tree.len, tree_sum / 5, tree_sum / linear_sum);
    return 0;
}
