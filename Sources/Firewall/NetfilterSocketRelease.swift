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
/// passed, and releasing a netfilter netlink socket waits for that (10–15 ms on a 2-core VM
/// with kernel 6.18), holding nftables' commit lock while it waits. A CNI plugin releases its
/// sockets when it exits, so its runtime would wait too, although the rules took effect at
/// commit; and any exit unmaps the whole address space (the static Swift runtime, the
/// libraries) before the parent's wait returns. ``handOffBeforeExit()`` closes stdin, stdout
/// and stderr, then starts a child that shares the address space and the descriptor table and
/// lives on after the caller: the caller's exit then releases nothing, and the child lets it
/// all go once the caller is gone (and, when the process opened a netfilter socket, once a
/// grace period has passed, so the release waits for nothing and holds no lock).
public enum NetfilterSocketRelease {
    /// Call right before `exit`, after everything has been written: stdio is closed. When no
    /// child can be started, the exit does the work itself, as it would have.
    public static func handOffBeforeExit() {
        let gracePeriod = BackgroundRelease.holdsNetfilterSockets
        PhaseTrace.mark("exit hand-off")
        _ = cnetlink_exit_through_child(gracePeriod ? 1 : 0)
    }
}
