#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether a short-lived process (a CNI plugin, `netctl`) may leave the kernel's slow
/// reclaims to a detached child: the netfilter sockets it closes after a ruleset change, and
/// the veth pairs it deletes. `NETCTL_RELEASE_IN_BACKGROUND=0` says no, for a runtime that
/// is a subreaper and waits for every descendant.
public enum BackgroundRelease {
    public static var isAllowed: Bool {
        getenv("NETCTL_RELEASE_IN_BACKGROUND").map { String(cString: $0) } != "0"
    }
}
