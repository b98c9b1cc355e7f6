import Firewall

/// What a short-lived process that published or unpublished does right before it exits.
public enum PublishingExit {
    /// Closing a netfilter socket after a ruleset change waits for the kernel's reclaim
    /// (10–15 ms); a child takes that wait (see `NetfilterSocketRelease`). Call after
    /// everything has been written: stdio is closed.
    public static func leaveReclaimToAChild() {
        NetfilterSocketRelease.handOffBeforeExit()
    }
}
