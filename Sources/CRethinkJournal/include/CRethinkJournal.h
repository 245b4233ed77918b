/*
 * CRethinkJournal: the two calls of journald's native protocol that Swift's Glibc module does not
 * import: a sealed memfd (memfd_create and F_ADD_SEALS need _GNU_SOURCE) and sendmsg with
 * SCM_RIGHTS (the CMSG_* macros). Not API: only RethinkJournal calls it. Every symbol is prefixed rj_.
 */
#ifndef CRETHINKJOURNAL_H
#define CRETHINKJOURNAL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A close-on-exec memfd holding `length` bytes of `data`, sealed against any change, as journald
 * requires for an entry passed by descriptor. Returns the fd, or -1 with errno set. */
int rj_sealed_memfd(const void *data, size_t length);

/* Sends `fd` over the datagram socket `sock` to `address` (a sockaddr_un of `address_length` bytes)
 * as the only content of one message (SCM_RIGHTS, no payload). Returns 0, or -1 with errno set. */
int rj_send_fd(int sock, const void *address, unsigned address_length, int fd, int flags);

#ifdef __cplusplus
}
#endif

#endif
