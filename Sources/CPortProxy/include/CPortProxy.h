#ifndef CPORTPROXY_H
#define CPORTPROXY_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>

/* The Glibc module is built without _GNU_SOURCE, so it hides splice(2), pipe2(2), accept4(2),
   F_SETPIPE_SZ, POSIX_SPAWN_SETSID and posix_spawn_file_actions_addclosefrom_np; and it does
   not include <sys/epoll.h> or <sys/signalfd.h> at all. shim.c is built with _GNU_SOURCE and
   forwards to them. */

/* splice(2) between two descriptors with no offsets (sockets and pipes). */
ssize_t cportproxy_splice(int from, int to, size_t length, unsigned int flags);
/* pipe2(2) with O_NONBLOCK | O_CLOEXEC. */
int cportproxy_pipe(int fds[2]);

/* A close-on-exec stream socketpair; fds[0] non-blocking, fds[1] blocking. */
int cportproxy_socketpair(int fds[2]);
/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. */
int cportproxy_accept(int fd, struct sockaddr *address, socklen_t *length);
/* fcntl(F_SETPIPE_SZ): the new capacity in bytes, or -1. */
int cportproxy_set_pipe_size(int fd, int size);
/* posix_spawn_file_actions_addclosefrom_np(3): close every descriptor from `from` up. */
int cportproxy_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);

/* recvmmsg(2) without blocking: up to `count` datagrams, the i-th into `buffers + i * size`,
   its length into `lengths[i]` and, when `addresses` is not NULL, its sender into
   `addresses[i]`. Returns how many arrived, or -1 with errno. */
int cportproxy_receive_batch(int fd, unsigned char *buffers, size_t size, size_t *lengths,
                             struct sockaddr_storage *addresses, unsigned int count);
/* sendmmsg(2) without blocking: the i-th datagram is `lengths[i]` bytes at `buffers + i * size`,
   sent to `addresses[i]` (of length `address_length`) or, when `addresses` is NULL, to the
   socket's peer. Returns how many were sent, or -1 with errno. */
int cportproxy_send_batch(int fd, const unsigned char *buffers, size_t size, const size_t *lengths,
                          const struct sockaddr_storage *addresses, const socklen_t *address_lengths,
                          unsigned int count);

/* Makes the UDP socket `fd` of `family` (AF_INET or AF_INET6) report the local address each
   datagram was sent to (IP_PKTINFO, IPV6_RECVPKTINFO), for cportproxy_receive_batch_local.
   Returns 0, or -1 with errno. */
int cportproxy_enable_local_addresses(int fd, int family);
/* As cportproxy_receive_batch, and the local address the i-th datagram was sent to into
   `locals[i]` (port 0): the address to answer from. Its family is AF_UNSPEC when the datagram
   carried none. Needs cportproxy_enable_local_addresses. */
int cportproxy_receive_batch_local(int fd, unsigned char *buffers, size_t size, size_t *lengths,
                                   struct sockaddr_storage *addresses, struct sockaddr_storage *locals,
                                   unsigned int count);
/* As cportproxy_send_batch, each datagram from the local address `sources[i]` (IP_PKTINFO,
   IPV6_PKTINFO), as cportproxy_receive_batch_local reported it; one of family AF_UNSPEC leaves
   the choice to the kernel. */
int cportproxy_send_batch_from(int fd, const unsigned char *buffers, size_t size, const size_t *lengths,
                               const struct sockaddr_storage *addresses, const socklen_t *address_lengths,
                               const struct sockaddr_storage *sources, unsigned int count);

/* SPLICE_F_MOVE | SPLICE_F_NONBLOCK */
extern const unsigned int CPORTPROXY_SPLICE_FLAGS;
/* POSIX_SPAWN_SETSID */
extern const short CPORTPROXY_SPAWN_SETSID;

#endif
