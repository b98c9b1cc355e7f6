#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
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

int cportproxy_enable_local_addresses(int fd, int family) {
    int on = 1;
    if (family == AF_INET6) return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
    return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
}

/* Room for the one control message a socket with only packet info enabled gets. */
union cportproxy_control {
    struct cmsghdr header;
    unsigned char v4[CMSG_SPACE(sizeof(struct in_pktinfo))];
    unsigned char v6[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* The local address in the control data of `message`, into `local` (AF_UNSPEC without one).
   IPv4 takes ipi_spec_dst: the destination for a unicast datagram, the receiving interface's
   address for a broadcast one, either way a valid source. An IPv6 multicast destination is
   not one, so it is left to the kernel; a link-local one keeps its interface as scope, which
   the kernel needs to send from it. */
static void cportproxy_local_address(struct msghdr *message, struct sockaddr_storage *local) {
    local->ss_family = AF_UNSPEC;
    for (struct cmsghdr *control = CMSG_FIRSTHDR(message); control; control = CMSG_NXTHDR(message, control)) {
        if (control->cmsg_level == IPPROTO_IP && control->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(control), sizeof(info));
            struct sockaddr_in *address = (struct sockaddr_in *)local;
            memset(address, 0, sizeof(*address));
            address->sin_family = AF_INET;
            address->sin_addr = info.ipi_spec_dst;
            return;
        }
        if (control->cmsg_level == IPPROTO_IPV6 && control->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(control), sizeof(info));
            if (IN6_IS_ADDR_MULTICAST(&info.ipi6_addr)) return;
            struct sockaddr_in6 *address = (struct sockaddr_in6 *)local;
            memset(address, 0, sizeof(*address));
            address->sin6_family = AF_INET6;
            address->sin6_addr = info.ipi6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(&info.ipi6_addr)) address->sin6_scope_id = info.ipi6_ifindex;
            return;
        }
    }
}

int cportproxy_receive_batch_local(int fd, unsigned char *buffers, size_t size, size_t *lengths,
                                   struct sockaddr_storage *addresses, struct sockaddr_storage *locals,
                                   unsigned int count) {
    struct mmsghdr messages[CPORTPROXY_BATCH_MAX];
    struct iovec vectors[CPORTPROXY_BATCH_MAX];
    union cportproxy_control controls[CPORTPROXY_BATCH_MAX];
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
        messages[i].msg_hdr.msg_control = &controls[i];
        messages[i].msg_hdr.msg_controllen = sizeof(controls[i]);
    }
    int received = recvmmsg(fd, messages, count, MSG_DONTWAIT, NULL);
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        cportproxy_local_address(&messages[i].msg_hdr, &locals[i]);
    }
    return received;
}

int cportproxy_send_batch_from(int fd, const unsigned char *buffers, size_t size, const size_t *lengths,
                               const struct sockaddr_storage *addresses, const socklen_t *address_lengths,
                               const struct sockaddr_storage *sources, unsigned int count) {
    struct mmsghdr messages[CPORTPROXY_BATCH_MAX];
    struct iovec vectors[CPORTPROXY_BATCH_MAX];
    union cportproxy_control controls[CPORTPROXY_BATCH_MAX];
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
        struct msghdr *message = &messages[i].msg_hdr;
        if (sources[i].ss_family == AF_INET) {
            const struct sockaddr_in *source = (const struct sockaddr_in *)&sources[i];
            struct in_pktinfo info;
            memset(&info, 0, sizeof(info));
            /* The source address only: the interface stays the route's choice. */
            info.ipi_spec_dst = source->sin_addr;
            message->msg_control = &controls[i];
            message->msg_controllen = CMSG_SPACE(sizeof(info));
            struct cmsghdr *control = CMSG_FIRSTHDR(message);
            control->cmsg_level = IPPROTO_IP;
            control->cmsg_type = IP_PKTINFO;
            control->cmsg_len = CMSG_LEN(sizeof(info));
            memcpy(CMSG_DATA(control), &info, sizeof(info));
        } else if (sources[i].ss_family == AF_INET6) {
            const struct sockaddr_in6 *source = (const struct sockaddr_in6 *)&sources[i];
            struct in6_pktinfo info;
            memset(&info, 0, sizeof(info));
            info.ipi6_addr = source->sin6_addr;
            info.ipi6_ifindex = source->sin6_scope_id;
            message->msg_control = &controls[i];
            message->msg_controllen = CMSG_SPACE(sizeof(info));
            struct cmsghdr *control = CMSG_FIRSTHDR(message);
            control->cmsg_level = IPPROTO_IPV6;
            control->cmsg_type = IPV6_PKTINFO;
            control->cmsg_len = CMSG_LEN(sizeof(info));
            memcpy(CMSG_DATA(control), &info, sizeof(info));
        }
    }
    return sendmmsg(fd, messages, count, MSG_DONTWAIT);
}

const unsigned int CPORTPROXY_SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
const short CPORTPROXY_SPAWN_SETSID = POSIX_SPAWN_SETSID;
