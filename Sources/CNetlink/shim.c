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
#include "CNetlink.h"

int cnetlink_setns(int fd, int nstype) { return setns(fd, nstype); }
int cnetlink_unshare(int flags) { return unshare(flags); }

int cnetlink_rcu_grace_period(void) { return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0); }
int cnetlink_namespace_type(int fd) { return ioctl(fd, NS_GET_NSTYPE); }

int cnetlink_socket_namespace(int fd) { return ioctl(fd, SIOCGSKNS); }

int cnetlink_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* Closes every descriptor but `keep_a` and `keep_b`. */
static void close_all_but(int keep_a, int keep_b) {
    int low = keep_a < keep_b ? keep_a : keep_b, high = keep_a < keep_b ? keep_b : keep_a;
    unsigned int ranges[3][2] = {{0, (unsigned)low - 1}, {(unsigned)low + 1, (unsigned)high - 1}, {(unsigned)high + 1, ~0U}};
    struct rlimit limit;
    unsigned int bound = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (unsigned int)limit.rlim_cur : 1U << 20;
    for (int i = 0; i < 3; i++) {
        if (ranges[i][0] > ranges[i][1] || (i == 0 && low == 0)) continue;
        if (syscall(SYS_close_range, ranges[i][0], ranges[i][1], 0) != 0) {
            /* Kernels before 5.9, or a filter refusing close_range: one by one, up to the limit. */
            unsigned int last = ranges[i][1] < bound ? ranges[i][1] : bound;
            for (unsigned int fd = ranges[i][0]; fd <= last; fd++) close((int)fd);
        }
    }
}

/* The grandchild: only system calls, as after any fork of a threaded process. Returns the
   kernel's answer (0 or a positive errno), or a negative errno when it could not ask. */
static int delete_link_now(int netns_fd, int ifindex) {
    struct stat target, own;
    if (fstat(netns_fd, &target) != 0) return -errno;
    if (stat("/proc/self/ns/net", &own) != 0 || own.st_ino != target.st_ino || own.st_dev != target.st_dev) {
        if (setns(netns_fd, CLONE_NEWNET) != 0) return -errno;
    }
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (sock < 0) return -errno;
    struct { struct nlmsghdr header; struct ifinfomsg link; } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_DELLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.nlmsg_seq = 1;
    request.link.ifi_family = AF_UNSPEC;
    request.link.ifi_index = ifindex;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(sock, &request, sizeof request, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    /* The answer echoes the request after the error code: room for both. */
    union { struct nlmsghdr header; char bytes[1024]; } reply;
    for (;;) {
        ssize_t length = recv(sock, &reply, sizeof reply, 0);
        if (length < 0 && errno == EINTR) continue;
        if (length < 0) return -errno;
        if ((size_t)length < NLMSG_LENGTH(sizeof(struct nlmsgerr)) || reply.header.nlmsg_type != NLMSG_ERROR) return -EPROTO;
        return -((struct nlmsgerr *)NLMSG_DATA(&reply.header))->error;
    }
}

int cnetlink_delete_link_detached(int netns_fd, int ifindex, int report_fd) {
    /* _Fork runs no atfork handlers: safe to call again in the child of a threaded process. */
    pid_t child = _Fork();
    if (child < 0) return -errno;
    if (child == 0) {
        pid_t grandchild = _Fork();
        if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
        /* Out of the caller's session (no terminal or group signal reaches it), and a report
           the parent no longer reads must not kill it. */
        setsid();
        signal(SIGPIPE, SIG_IGN);
        close_all_but(netns_fd, report_fd);
        int result = delete_link_now(netns_fd, ifindex);
        while (write(report_fd, &result, sizeof result) < 0 && errno == EINTR) {}
        _exit(0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        /* Reaped by someone else (a SIGCHLD handler waiting for any child): a grandchild that
           never started shows as an end of the report without one. */
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

static int exit_child(void *unused) {
    (void)unused;
    /* Killed when the caller dies; every other signal stays blocked (the mask is inherited),
       so no handler ever runs on this stack. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return 0;
    if (exit_child_arguments.grace_period) syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
    while (getppid() == exit_child_arguments.parent) pause();
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
