#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include "CPortProxy.h"

ssize_t cportproxy_splice(int from, int to, size_t length, unsigned int flags) {
    return splice(from, NULL, to, NULL, length, flags);
}

int cportproxy_pipe(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC); }

int cportproxy_socketpair(int fds[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return -1;
    return fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
}

int cportproxy_accept(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cportproxy_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

int cportproxy_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/* Batches larger than this are cut: the message headers live on the stack. */
#define CPORTPROXY_BATCH_MAX 64

int cportproxy_receive_batch(int fd, unsigned char *buffers, size_t size, size_t *lengths,
                             struct sockaddr_storage *addresses, unsigned int count) {
    struct mmsghdr messages[CPORTPROXY_BATCH_MAX];
    struct iovec vectors[CPORTPROXY_BATCH_MAX];
    if (count > CPORTPROXY_BATCH_MAX) count = CPORTPROXY_BATCH_MAX;
    memset(messages, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = buffers + i * size;
        vectors[i].iov_len = size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        if (addresses) {
            messages[i].msg_hdr.msg_name = &addresses[i];
            messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        }
    }
    int received = recvmmsg(fd, messages, count, MSG_DONTWAIT, NULL);
    for (int i = 0; i < received; i++) lengths[i] = messages[i].msg_len;
    return received;
}

int cportproxy_send_batch(int fd, const unsigned char *buffers, size_t size, const size_t *lengths,
                          const struct sockaddr_storage *addresses, const socklen_t *address_lengths,
                          unsigned int count) {
    struct mmsghdr messages[CPORTPROXY_BATCH_MAX];
    struct iovec vectors[CPORTPROXY_BATCH_MAX];
    if (count > CPORTPROXY_BATCH_MAX) count = CPORTPROXY_BATCH_MAX;
    memset(messages, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = (void *)(buffers + i * size);
        vectors[i].iov_len = lengths[i];
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        if (addresses) {
            messages[i].msg_hdr.msg_name = (void *)&addresses[i];
            messages[i].msg_hdr.msg_namelen = address_lengths[i];
        }
    }
    return sendmmsg(fd, messages, count, MSG_DONTWAIT);
}

const unsigned int CPORTPROXY_SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
const short CPORTPROXY_SPAWN_SETSID = POSIX_SPAWN_SETSID;
