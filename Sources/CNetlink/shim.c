#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include "CNetlink.h"

int cnetlink_setns(int fd, int nstype) { return setns(fd, nstype); }
int cnetlink_unshare(int flags) { return unshare(flags); }
int cnetlink_gettid(void) { return (int)syscall(SYS_gettid); }

int cnetlink_rcu_grace_period(void) { return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0); }
int cnetlink_namespace_type(int fd) { return ioctl(fd, NS_GET_NSTYPE); }
