// epoll, which Swift's Glibc module does not import: for the benchmark's fan-out relay (rethink-bench).
#include <sys/epoll.h>
