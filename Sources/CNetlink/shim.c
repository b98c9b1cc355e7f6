#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <stddef.h>
#include <time.h>
#include <linux/netlink.h>
#include "CNetlink.h"

int cnetlink_setns(int fd, int nstype) { return setns(fd, nstype); }
int cnetlink_unshare(int flags) { return unshare(flags); }

int cnetlink_rcu_grace_period(void) { return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0); }
int cnetlink_namespace_type(int fd) { return ioctl(fd, NS_GET_NSTYPE); }

int cnetlink_socket_namespace(int fd) { return ioctl(fd, SIOCGSKNS); }

int cnetlink_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* System calls that never touch errno: the deletion grandchild may share the caller's memory,
   errno (the calling thread's TLS) included, which it must never write. A negative result is
   -errno. */
static long raw_syscall(long number, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
#else
#error "raw_syscall: unsupported architecture"
#endif
}

/* Closes every descriptor but `keep_a` and `keep_b`. */
static void close_all_but(int keep_a, int keep_b) {
    int low = keep_a < keep_b ? keep_a : keep_b, high = keep_a < keep_b ? keep_b : keep_a;
    unsigned int ranges[3][2] = {{0, (unsigned)low - 1}, {(unsigned)low + 1, (unsigned)high - 1}, {(unsigned)high + 1, ~0U}};
    struct rlimit limit;
    unsigned int bound = raw_syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&limit, 0, 0) == 0 && limit.rlim_cur != RLIM_INFINITY
        ? (unsigned int)limit.rlim_cur : 1U << 20;
    for (int i = 0; i < 3; i++) {
        if (ranges[i][0] > ranges[i][1] || (i == 0 && low == 0)) continue;
        if (raw_syscall(SYS_close_range, ranges[i][0], ranges[i][1], 0, 0, 0, 0) != 0) {
            /* Kernels before 5.9, or a filter refusing close_range: one by one, up to the limit. */
            unsigned int last = ranges[i][1] < bound ? ranges[i][1] : bound;
            for (unsigned int fd = ranges[i][0]; fd <= last; fd++) raw_syscall(SYS_close, (long)fd, 0, 0, 0, 0, 0);
        }
    }
}

/* The grandchild's request: only raw system calls. Returns the kernel's answer (0 or a
   positive errno), or a negative errno when it could not ask. */
static int delete_link_now(int netns_fd, int ifindex) {
    struct stat target, own;
    long result = raw_syscall(SYS_fstat, netns_fd, (long)&target, 0, 0, 0, 0);
    if (result != 0) return (int)result;
    if (raw_syscall(SYS_newfstatat, AT_FDCWD, (long)"/proc/self/ns/net", (long)&own, 0, 0, 0) != 0
        || own.st_ino != target.st_ino || own.st_dev != target.st_dev) {
        result = raw_syscall(SYS_setns, netns_fd, CLONE_NEWNET, 0, 0, 0, 0);
        if (result != 0) return (int)result;
    }
    long sock = raw_syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, 0, 0, 0);
    if (sock < 0) return (int)sock;
    struct { struct nlmsghdr header; struct ifinfomsg link; } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_DELLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.nlmsg_seq = 1;
    request.link.ifi_family = AF_UNSPEC;
    request.link.ifi_index = ifindex;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    result = raw_syscall(SYS_sendto, sock, (long)&request, sizeof request, 0, (long)&kernel, sizeof kernel);
    if (result < 0) return (int)result;
    /* The answer echoes the request after the error code: room for both. */
    union { struct nlmsghdr header; char bytes[1024]; } reply;
    for (;;) {
        long length = raw_syscall(SYS_recvfrom, sock, (long)&reply, sizeof reply, 0, 0, 0);
        if (length == -EINTR) continue;
        if (length < 0) return (int)length;
        if ((size_t)length < NLMSG_LENGTH(sizeof(struct nlmsgerr)) || reply.header.nlmsg_type != NLMSG_ERROR) return -EPROTO;
        return -((struct nlmsgerr *)NLMSG_DATA(&reply.header))->error;
    }
}

/* Detaches (from the caller's session: no terminal or group signal reaches it), closes what it
   does not need, asks, and reports. With every signal blocked (inherited), a report the caller
   no longer reads is EPIPE, not SIGPIPE. */
static void delete_and_report(int netns_fd, int ifindex, int report_fd) {
    raw_syscall(SYS_setsid, 0, 0, 0, 0, 0, 0);
    close_all_but(netns_fd, report_fd);
    int result = delete_link_now(netns_fd, ifindex);
    while (raw_syscall(SYS_write, report_fd, (long)&result, sizeof result, 0, 0, 0) == -EINTR) {}
}

/* The shared-memory path: an intermediate child (CLONE_VM | CLONE_VFORK: the caller waits the
   few microseconds it lives) starts the grandchild (CLONE_VM) and exits, so the grandchild is
   nobody's zombie. Neither copies the caller's page tables, nor write-protects its memory as a
   fork does (each page the caller then writes would be copied). Each runs on a static stack:
   the intermediate's is used while its caller waits, under a lock; the grandchild's for the
   ~20 ms it waits for the kernel, one grandchild at a time (a deletion meanwhile forks). */
static char deletion_intermediate_stack[16384] __attribute__((aligned(64)));
static char deletion_grandchild_stack[32768] __attribute__((aligned(64)));
static int deletion_intermediate_busy, deletion_grandchild_busy;
static struct { int netns_fd, ifindex, report_fd; } deletion_arguments;

static int deletion_grandchild(void *unused) {
    (void)unused;
    delete_and_report(deletion_arguments.netns_fd, deletion_arguments.ifindex, deletion_arguments.report_fd);
    /* Frees the stack and exits without touching it again: the next deletion may take the
       stack from the moment the flag is clear. */
#if defined(__x86_64__)
    __asm__ volatile("movl $0, (%0)\n\tmovl %1, %%eax\n\txorl %%edi, %%edi\n\tsyscall"
                     : : "r"(&deletion_grandchild_busy), "i"(SYS_exit) : "memory", "rax", "rdi", "rcx", "r11");
#elif defined(__aarch64__)
    __asm__ volatile("stlr wzr, [%0]\n\tmov x8, %1\n\tmov x0, #0\n\tsvc 0"
                     : : "r"(&deletion_grandchild_busy), "i"(SYS_exit) : "memory", "x0", "x8");
#endif
    return 0;
}

static int deletion_intermediate(void *unused) {
    (void)unused;
    long started = clone(deletion_grandchild, deletion_grandchild_stack + sizeof deletion_grandchild_stack, CLONE_VM | SIGCHLD, NULL);
    if (started < 0) __atomic_store_n(&deletion_grandchild_busy, 0, __ATOMIC_RELEASE);
    return started < 0 ? 1 : 0;
}

/* Starts the deletion on the shared-memory path: 1 when the grandchild runs, 0 when this
   path is busy (the caller forks instead), -errno when it failed. A short-lived caller starts
   the grandchild as its own child: it is reparented (and reaped) once the caller exits, and
   the caller does not wait for an intermediate to be scheduled, run and exit. */
static int delete_link_sharing_memory(int netns_fd, int ifindex, int report_fd, int short_lived) {
    if (__atomic_exchange_n(&deletion_intermediate_busy, 1, __ATOMIC_ACQUIRE)) return 0;
    if (__atomic_exchange_n(&deletion_grandchild_busy, 1, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&deletion_intermediate_busy, 0, __ATOMIC_RELEASE);
        return 0;
    }
    deletion_arguments.netns_fd = netns_fd;
    deletion_arguments.ifindex = ifindex;
    deletion_arguments.report_fd = report_fd;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    if (short_lived) {
        long started = clone(deletion_grandchild, deletion_grandchild_stack + sizeof deletion_grandchild_stack, CLONE_VM | SIGCHLD, NULL);
        int error = errno;
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        __atomic_store_n(&deletion_intermediate_busy, 0, __ATOMIC_RELEASE);
        if (started >= 0) return 1;
        __atomic_store_n(&deletion_grandchild_busy, 0, __ATOMIC_RELEASE);
        return -error;
    }
    int child = clone(deletion_intermediate, deletion_intermediate_stack + sizeof deletion_intermediate_stack,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    int error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    __atomic_store_n(&deletion_intermediate_busy, 0, __ATOMIC_RELEASE);
    if (child < 0) {
        __atomic_store_n(&deletion_grandchild_busy, 0, __ATOMIC_RELEASE);
        return -error;
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        /* Reaped by someone else (a SIGCHLD handler waiting for any child): a grandchild that
           never started shows as an end of the report without one. */
        if (errno == ECHILD) return 1;
        if (errno != EINTR) return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -ECHILD;
}

int cnetlink_delete_link_detached(int netns_fd, int ifindex, int report_fd, int short_lived) {
    int shared = delete_link_sharing_memory(netns_fd, ifindex, report_fd, short_lived);
    if (shared != 0) return shared > 0 ? 0 : shared;
    /* _Fork runs no atfork handlers: safe to call again in the child of a threaded process. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = _Fork();
    if (child == 0) {
        pid_t grandchild = _Fork();
        if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
        delete_and_report(netns_fd, ifindex, report_fd);
        _exit(0);
    }
    int error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (child < 0) return -error;
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno == ECHILD) return 0;
        if (errno != EINTR) return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int cnetlink_wait_readable(int fd, long nanoseconds) {
    struct pollfd ready = { .fd = fd, .events = POLLIN };
    struct timespec limit = { .tv_sec = nanoseconds / 1000000000L, .tv_nsec = nanoseconds % 1000000000L };
    return ppoll(&ready, 1, nanoseconds < 0 ? NULL : &limit, NULL);
}

/* The exit child's stack and arguments: static, so nothing of the caller's heap or stack is
   used once the caller is gone (its address space lives as long as the child). */
static char exit_child_stack[16384] __attribute__((aligned(64)));
static struct { pid_t parent; int grace_period; } exit_child_arguments;

/* Releasing a netfilter socket (NETLINK_URELEASE) makes nf_tables take its commit lock and wait
   there for the reclaim of every transaction not yet reclaimed, which takes an RCU grace period
   after each commit. Released one by one after back-to-back ruleset changes, the sockets of
   short-lived processes keep that lock held, and every nftables transaction and every link
   created or deleted on the host (nf_tables' netdevice notifier takes the same lock, under
   RTNL) waits 10-30 ms behind it. So the first exit child in a namespace becomes the collector:
   it listens on an abstract unix socket, the next ones hand their netfilter sockets to it
   (SCM_RIGHTS) and go, and it releases them all together once a grace period has passed with
   no hand-off (nothing of ours left to reclaim), or after COLLECT_LIMIT_NS at the latest. */
#define RELEASE_SOCKET_NAME "netctl-netfilter-release"
#define COLLECT_LIMIT_NS 2000000000L
enum { MAX_HELD = 512, PER_MESSAGE = 16 };

static socklen_t release_address(struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    memcpy(address->sun_path + 1, RELEASE_SOCKET_NAME, sizeof RELEASE_SOCKET_NAME - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof RELEASE_SOCKET_NAME - 1);
}

static long monotonic_ns(void) {
    struct timespec now = {0, 0};
    raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&now, 0, 0, 0, 0);
    return now.tv_sec * 1000000000L + now.tv_nsec;
}

/* The netfilter netlink sockets among this process's descriptors (numbered densely from 0:
   the search ends after 64 unused numbers in a row). */
static int netfilter_sockets(int *fds, int capacity) {
    int count = 0, unused = 0;
    for (int fd = 3; unused < 64 && count < capacity; fd++) {
        int domain = 0, protocol = 0;
        socklen_t length = sizeof domain;
        long answer = raw_syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, (long)&domain, (long)&length, 0);
        unused = answer == -EBADF ? unused + 1 : 0;
        if (answer != 0) continue;
        length = sizeof protocol;
        if (domain == AF_NETLINK && raw_syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PROTOCOL, (long)&protocol, (long)&length, 0) == 0
            && protocol == NETLINK_NETFILTER) fds[count++] = fd;
    }
    return count;
}

/* Whether the peer of a connected unix socket runs as this process's effective user: the
   sockets carry this process's right to change the ruleset, and go to no one else. */
static int peer_is_us(int channel) {
    struct ucred peer;
    socklen_t length = sizeof peer;
    return raw_syscall(SYS_getsockopt, channel, SOL_SOCKET, SO_PEERCRED, (long)&peer, (long)&length, 0) == 0
        && (long)peer.uid == raw_syscall(SYS_geteuid, 0, 0, 0, 0, 0, 0);
}

/* Gives `fds` to the collector of this network namespace. 0 once it has them all. */
static int hand_over(const int *fds, int count) {
    struct sockaddr_un address;
    socklen_t length = release_address(&address);
    int channel = (int)raw_syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0);
    if (channel < 0) return -1;
    int result = -1;
    if (raw_syscall(SYS_connect, channel, (long)&address, length, 0, 0, 0) == 0 && peer_is_us(channel)) {
        result = 0;
        for (int first = 0; first < count && result == 0; first += PER_MESSAGE) {
            int batch = count - first < PER_MESSAGE ? count - first : PER_MESSAGE;
            char byte = 0;
            struct iovec data = { &byte, 1 };
            union { char buffer[CMSG_SPACE(sizeof(int) * PER_MESSAGE)]; struct cmsghdr align; } control;
            memset(&control, 0, sizeof control);
            struct msghdr message = { .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer,
                                      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)batch) };
            struct cmsghdr *header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)batch);
            memcpy(CMSG_DATA(header), fds + first, sizeof(int) * (size_t)batch);
            if (raw_syscall(SYS_sendmsg, channel, (long)&message, MSG_NOSIGNAL, 0, 0, 0) != 1) result = -1;
        }
    }
    raw_syscall(SYS_close, channel, 0, 0, 0, 0, 0);
    return result;
}

/* Takes the sockets of every hand-off waiting on `listener` into `held`. Returns how many
   hand-offs there were. */
static int take_hand_offs(int listener, int *held, int *count) {
    int arrived = 0;
    for (;;) {
        int channel = (int)raw_syscall(SYS_accept4, listener, 0, 0, SOCK_CLOEXEC, 0, 0);
        if (channel < 0) return arrived;
        arrived++;
        /* Read to the end the sender makes by closing (it does right after sending), bounded. */
        struct timeval patience = { 0, 100000 };
        raw_syscall(SYS_setsockopt, channel, SOL_SOCKET, SO_RCVTIMEO, (long)&patience, sizeof patience, 0);
        if (peer_is_us(channel)) {
            for (;;) {
                char byte;
                struct iovec data = { &byte, 1 };
                union { char buffer[CMSG_SPACE(sizeof(int) * PER_MESSAGE)]; struct cmsghdr align; } control;
                struct msghdr message = { .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer,
                                          .msg_controllen = sizeof control.buffer };
                if (raw_syscall(SYS_recvmsg, channel, (long)&message, MSG_CMSG_CLOEXEC, 0, 0, 0) <= 0) break;
                for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
                    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
                    int received = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                    for (int i = 0; i < received; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(header) + sizeof(int) * (size_t)i, sizeof fd);
                        if (*count < MAX_HELD) held[(*count)++] = fd;
                        else raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
                    }
                }
            }
        }
        raw_syscall(SYS_close, channel, 0, 0, 0, 0, 0);
    }
}

/* Collects hand-offs until a grace period passes without one, then releases everything. 0 when
   it collected; -1 when it could not listen (another collector took the name first). */
static int collect(int *held, int count) {
    struct sockaddr_un address;
    socklen_t length = release_address(&address);
    int listener = (int)raw_syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0);
    if (listener < 0) return -1;
    if (raw_syscall(SYS_bind, listener, (long)&address, length, 0, 0, 0) != 0
        || raw_syscall(SYS_listen, listener, 128, 0, 0, 0, 0) != 0) {
        raw_syscall(SYS_close, listener, 0, 0, 0, 0, 0);
        return -1;
    }
    long deadline = monotonic_ns() + COLLECT_LIMIT_NS;
    do {
        /* Every transaction committed before this returns has been reclaimed, or nearly. Where
           membarrier is refused (a seccomp filter), a pause as long as a slow grace period. */
        if (raw_syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0, 0) != 0) {
            struct timespec pause = { 0, 30000000 };
            raw_syscall(SYS_nanosleep, (long)&pause, 0, 0, 0, 0, 0);
        }
    } while (take_hand_offs(listener, held, &count) > 0 && count < MAX_HELD && monotonic_ns() < deadline);
    raw_syscall(SYS_close, listener, 0, 0, 0, 0, 0);
    for (int i = 0; i < count; i++) raw_syscall(SYS_close, held[i], 0, 0, 0, 0, 0);
    return 0;
}

static int exit_child(void *unused) {
    (void)unused;
    /* Every signal stays blocked (the mask is inherited), so no handler ever runs on this stack. */
    static int held[MAX_HELD];
    int count = exit_child_arguments.grace_period ? netfilter_sockets(held, MAX_HELD) : 0;
    int handed_over = count > 0 && hand_over(held, count) == 0;
    if (count > 0 && !handed_over && collect(held, count) == 0) return 0;
    /* Killed when the caller dies, releasing the rest. With netfilter sockets neither handed
       over nor collected (another user's process holds the name), a grace period first. */
    if (raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0) != 0) return 0;
    if (count > 0 && !handed_over) raw_syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0, 0);
    while (raw_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0) == exit_child_arguments.parent) raw_syscall(SYS_pause, 0, 0, 0, 0, 0, 0);
    return 0;
}

int cnetlink_exit_through_child(int grace_period) {
    for (int fd = 0; fd <= 2; fd++) close(fd);
    exit_child_arguments.parent = getpid();
    exit_child_arguments.grace_period = grace_period;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int child = clone(exit_child, exit_child_stack + sizeof exit_child_stack, CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
    int error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return child < 0 ? -error : 0;
}
