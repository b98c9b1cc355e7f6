#ifndef CNETLINK_H
#define CNETLINK_H

#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/veth.h>
#include <linux/neighbour.h>
#include <linux/sched.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/if.h>

/* setns(2) and unshare(2) are declared by glibc only under _GNU_SOURCE, which the
   Glibc module is not built with; shim.c is, and forwards to them. */
int cnetlink_setns(int fd, int nstype);
int cnetlink_unshare(int flags);
/// Waits for one RCU grace period (membarrier MEMBARRIER_CMD_GLOBAL), holding no lock.
int cnetlink_rcu_grace_period(void);
/* ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace file, or -1. */
int cnetlink_namespace_type(int fd);
/* ioctl(SIOCGSKNS): a new descriptor of the network namespace socket `fd` lives in, or -1. */
int cnetlink_socket_namespace(int fd);
/* pipe2(O_CLOEXEC), which glibc declares under _GNU_SOURCE only. */
int cnetlink_pipe_cloexec(int fds[2]);
/* Deletes link `ifindex` of the network namespace `netns_fd` in a detached grandchild (no
   zombie is left, a session of its own), which writes an int to `report_fd` once the kernel
   answers, i.e. after the reclaim the deletion waits for: 0 (deleted) or the kernel's errno,
   or -errno when it could not ask at all. It keeps `netns_fd`, `report_fd` and the socket it
   makes, nothing else, stdio included. It shares the caller's memory when it can (no page
   tables copied, no copy-on-write afterwards); with `short_lived` (a caller that exits right
   after its command) it is the caller's own child, reaped once the caller has exited.
   Returns 0, or -errno when it could not start. */
int cnetlink_delete_link_detached(int netns_fd, int ifindex, int report_fd, int short_lived);
/* Leaves the rest of this process's exit to a child: closes stdin, stdout and stderr (so
   whoever reads them sees their end now), then starts a child that shares this process's
   memory and descriptor table (CLONE_VM | CLONE_FILES), runs on a stack of its own and makes
   system calls only. The caller then exits at once: the address space and the descriptors
   live on in the child, so the caller's exit neither tears down its memory nor releases a
   socket, and its parent's wait returns without waiting for that work. With `grace_period`
   set, the caller's netfilter sockets go to the collector of its network namespace (an earlier
   exit child listening on an abstract unix socket, of the same user), or the child becomes
   that collector: it takes the next callers' sockets and releases them all once an RCU grace
   period has passed without another (or after 2 s), so releasing them waits for nothing and
   holds nf_tables' commit lock for no one. Otherwise the child waits for the caller's death
   (PR_SET_PDEATHSIG) and exits with everything the caller had. Returns 0, or -errno when no
   child could start (stdio is closed either way). */
int cnetlink_exit_through_child(int grace_period);

/* ppoll(2) for POLLIN on `fd` (glibc declares it under _GNU_SOURCE only); `nanoseconds` < 0
   waits without limit. 1: readable (or closed), 0: timed out, -1: errno. */
int cnetlink_wait_readable(int fd, long nanoseconds);

/* Constants the importer cannot see: linux/if.h hides its flag enum when glibc's
   net/if.h is in the same translation unit, and the NLMSG/MNL helpers are macros. */
static const unsigned int CNETLINK_IFF_UP = IFF_UP;
static const unsigned int CNETLINK_IFF_LOWER_UP = IFF_LOWER_UP;
static const unsigned int CNETLINK_IFF_PROMISC = IFF_PROMISC;
static const int CNETLINK_CLONE_NEWNET = CLONE_NEWNET;
static const int CNETLINK_CLONE_NEWNS = CLONE_NEWNS;

static inline uint32_t cnetlink_align(uint32_t len) { return MNL_ALIGN(len); }

#endif
