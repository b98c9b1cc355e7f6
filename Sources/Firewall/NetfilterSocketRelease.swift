#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// Lets a short-lived process exit without waiting for the kernel: for nftables to reclaim
/// memory, or to tear down the process's own address space.
///
/// After a ruleset change the kernel frees the old objects once an RCU grace period has
/// passed, and releasing a netfilter netlink socket waits for every change not yet freed
/// (10–30 ms on a 2-core VM with kernel 6.18), holding nftables' commit lock while it waits,
/// which every other transaction and every link created or deleted on the host then waits
/// for. A CNI plugin releases its sockets when it exits, so its runtime would wait too,
/// although the rules took effect at commit; and any exit unmaps the whole address space (the
/// static Swift runtime, the libraries) before the parent's wait returns.
/// ``handOffBeforeExit()`` closes stdin, stdout and stderr, then starts a child that shares
/// the address space and the descriptor table and lives on after the caller: the caller's exit
/// then releases nothing, and the child lets it all go once the caller is gone. Netfilter
/// sockets go to one collector per network namespace (the first such child, listening on an
/// abstract unix socket; handed only to a process of the same user), which releases them
/// together once a grace period has passed without another: back-to-back plugin calls then
/// no longer release one socket each into the next one's transaction. (`bench-cni --steps`
/// of the portmap chain: calls over twice the median 45 → 3 of 150 bridge ADDs, 23 → 3 of 150
/// portmap ADDs.)
public enum NetfilterSocketRelease {
    /// Call right before `exit`, after everything has been written: stdio is closed. When no
    /// child can be started, the exit does the work itself, as it would have.
    public static func handOffBeforeExit() {
        let gracePeriod = BackgroundRelease.holdsNetfilterSockets
        PhaseTrace.mark("exit hand-off")
        _ = cnetlink_exit_through_child(gracePeriod ? 1 : 0)
    }
}
