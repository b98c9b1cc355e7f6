#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if NETCTL_FAULT_INJECTION
import Synchronization
#endif

/// The tests' switch for "a failure at every step": with `NETCTL_FAULT_AT=N` in its
/// environment, a process fails the N-th of its netlink requests, libnftables commands and
/// SQLite statements (counted together, in the order they run) as the kernel or the library
/// would, and says so on stderr (`netctl: injected fault N at SITE`). With
/// `NETCTL_FAULT_IN=NAME` only the processes run as NAME count (one plugin of a CNI chain);
/// with `NETCTL_FAULT_KILL=1` the process is killed there (SIGKILL) instead, as a crash or an
/// impatient runtime would end it: nothing of its own gets to undo what it did. Compiled into debug
/// builds only (the tests' builds, `NETCTL_FAULT_INJECTION`); a release build has no switch.
public enum FaultInjection {
    /// Where a fault can be injected.
    public enum Site: String, Sendable {
        case netlink, nftables, sqlite
    }

    #if NETCTL_FAULT_INJECTION
    private static let target: Int? = {
        guard let at = getenv("NETCTL_FAULT_AT").flatMap({ Int(String(cString: $0)) }) else { return nil }
        if let only = getenv("NETCTL_FAULT_IN").map({ String(cString: $0) }),
           CommandLine.arguments.first?.split(separator: "/").last.map(String.init) != only { return nil }
        return at
    }()
    private static let count = Atomic<Int>(0)

    /// Counts one operation at `site`; throws when it is the one to fail.
    ///
    /// - Throws: ``NetworkError`` `.system` with EIO as its cause.
    public static func check(_ site: Site) throws {
        guard let target else { return }
        let number = count.add(1, ordering: .relaxed).newValue
        guard number == target else { return }
        writeAll("netctl: injected fault \(number) at \(site.rawValue)\n", to: 2)
        if getenv("NETCTL_FAULT_KILL") != nil { kill(getpid(), SIGKILL) }
        throw NetworkError(code: .system, message: "injected fault \(number) at \(site.rawValue)", cause: Errno(rawValue: EIO))
    }
    #else
    @inline(__always)
    public static func check(_ site: Site) throws {}
    #endif
}
