#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Whether a short-lived process (a CNI plugin, `netctl`) may leave the kernel's slow
/// reclaims to a detached child: the netfilter sockets it closes after a ruleset change, the
/// veth pairs it deletes, and the teardown of its own address space at exit.
/// `NETCTL_RELEASE_IN_BACKGROUND=0` says no, for a runtime that is a subreaper and waits for
/// every descendant.
public enum BackgroundRelease {
    public static var isAllowed: Bool {
        getenv("NETCTL_RELEASE_IN_BACKGROUND").map { String(cString: $0) } != "0"
    }

    /// Whether this process has opened a netfilter netlink socket (libnftables, conntrack):
    /// releasing one after a ruleset change waits for the kernel's reclaim, so the child that
    /// takes over the exit waits out a grace period before it lets the sockets go. Every
    /// opener of such a socket calls ``noteNetfilterSocket()``.
    public static var holdsNetfilterSockets: Bool { netfilterSockets.load(ordering: .relaxed) }

    /// Records that this process opened a netfilter netlink socket.
    public static func noteNetfilterSocket() { netfilterSockets.store(true, ordering: .relaxed) }

    private static let netfilterSockets = Atomic<Bool>(false)

    /// Whether this process exits right after its one command (a CNI plugin, `netctl`): a
    /// child it leaves behind (a link deletion waiting for the kernel) is then its own child,
    /// reaped by init or the nearest subreaper once it has exited, rather than a grandchild
    /// behind an intermediate child it must wait for. A long-lived process (a daemon) never says so.
    public static var isShortLivedProcess: Bool { shortLived.load(ordering: .relaxed) }

    /// Says that this process exits right after its one command (see ``isShortLivedProcess``).
    public static func declareShortLivedProcess() { shortLived.store(true, ordering: .relaxed) }

    private static let shortLived = Atomic<Bool>(false)
}
