#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// Lets a short-lived process exit without waiting for nftables to reclaim memory.
///
/// After a ruleset change the kernel frees the old objects once an RCU grace period has
/// passed, and releasing a netfilter netlink socket waits for that (10–15 ms on a 2-core VM with kernel 6.18). A CNI
/// plugin releases its sockets when it exits, so its runtime would wait too, although the
/// rules took effect at commit. ``handOffBeforeExit()`` closes stdin, stdout and stderr, then
/// gives the sockets to a child that closes every other descriptor and exits on its own: the
/// wait moves out of the runtime's way and changes nothing else.
public enum NetfilterSocketRelease {
    /// Call right before `exit`, after everything has been written. Does nothing when the
    /// process holds no netfilter socket; when `fork` fails the exit waits as usual.
    public static func handOffBeforeExit() {
        let descriptors = openDescriptors()
        let netfilter = descriptors.filter(isNetfilterSocket)
        PhaseTrace.mark("exit: socket scan")
        guard !netfilter.isEmpty else { return }
        // Everything is written: the runtime sees the end of stdout when this process exits,
        // however long the child takes.
        for standard: Int32 in 0...2 { close(standard) }
        let others = descriptors.filter { $0 > 2 && !netfilter.contains($0) }
        guard fork() == 0 else { return }
        // The child: only system calls from here on.
        for descriptor in others { close(descriptor) }
        // Releasing the sockets while the reclaim is pending waits for it holding nftables'
        // commit lock, which would stall the next process's commit; once a grace period
        // has passed there is nothing left to wait for.
        _ = cnetlink_rcu_grace_period()
        _exit(0)
    }

    /// The descriptors open in this process, from `/proc/self/fd`.
    static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let descriptor = Int32(name), descriptor != own { result.append(descriptor) }
        }
        return result
    }

    /// Whether `descriptor` is an `AF_NETLINK` socket of protocol `NETLINK_NETFILTER`.
    static func isNetfilterSocket(_ descriptor: Int32) -> Bool {
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(descriptor, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
        }
        return option(SO_DOMAIN) == AF_NETLINK && option(SO_PROTOCOL) == NETLINK_NETFILTER
    }
}
